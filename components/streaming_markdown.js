// Streaming markdown, rendered in the browser. Text arrives as append(offset, chunk); finished top-level blocks
// are rendered once and kept, only the last (still growing) block is re-rendered, once per animation frame.
import { MarkdownIt, hljs, highlightCss } from "nicechat-markdown";

// Distance from the bottom of the page (px) that still counts as "at the bottom": the view follows the stream there.
const FOLLOW_SLACK_PX = 48;

const OWN_CSS = `
.nicechat-markdown { overflow-wrap: anywhere; }
.nicechat-markdown > :first-child { margin-top: 0; }
.nicechat-markdown > :last-child { margin-bottom: 0; }
.nicechat-markdown pre { background: #f6f8fa; border-radius: 6px; padding: 0.75em 1em; overflow-x: auto; }
.nicechat-markdown pre code.hljs { padding: 0; background: transparent; }
.nicechat-markdown :not(pre) > code { background: #afb8c133; border-radius: 4px; padding: 0.1em 0.35em; }
.nicechat-markdown table { display: block; overflow-x: auto; }
.nicechat-markdown .nc-code { position: relative; }
.nicechat-markdown .nc-copy { position: absolute; top: 0.35em; right: 0.35em; font-size: 0.75em; padding: 0.15em 0.6em;
  border: 1px solid #d0d7de; border-radius: 4px; background: #ffffffcc; color: #24292f; cursor: pointer; }
.body--dark .nicechat-markdown .nc-copy { background: #21262dcc; color: #c9d1d9; border-color: #30363d; }
`;
document.head.append(Object.assign(document.createElement("style"), { textContent: highlightCss + OWN_CSS }));

const md = createMarkdown();

// The server's call for new text (APPEND_FUNCTION in streaming_markdown.py): short, since it is sent up to ~12 times
// a second per message and its envelope is most of the bytes. getElement is NiceGUI's (it backs runMethod too).
window.__nc = (id, offset, chunk) => getElement(id)?.append(offset, chunk);

// "Copy code": the block's text as written (the code element's text is the source, highlighting aside).
document.addEventListener("click", async (event) => {
  const button = event.target.closest?.(".nicechat-markdown .nc-copy");
  if (!button) return;
  const code = button.parentElement.querySelector("pre code") ?? button.parentElement.querySelector("pre");
  try {
    await navigator.clipboard.writeText(code.textContent);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Copy failed";
  }
  setTimeout(() => (button.textContent = "Copy code"), 1500);
});

function createMarkdown() {
  const md = new MarkdownIt({
    html: false, // raw HTML from the model is shown as text, never parsed: nothing it contains can run
    linkify: true,
    langPrefix: "hljs language-",
    highlight: (code, lang) => {
      if (!lang || !hljs.getLanguage(lang)) return ""; // markdown-it escapes it as plain code
      return hljs.highlight(code, { language: lang, ignoreIllegals: true }).value;
    },
  });
  // An image would fetch its URL by itself, a way for injected text to leak the conversation: show it as a link.
  md.disable("image");
  // Every code block gets a "Copy code" button (one click listener on the document serves them all).
  const fence = md.renderer.rules.fence;
  md.renderer.rules.fence = (tokens, i, options, env, self) =>
    '<div class="nc-code"><button type="button" class="nc-copy" aria-label="Copy code">Copy code</button>' +
    fence(tokens, i, options, env, self) + "</div>";
  const linkOpen = md.renderer.rules.link_open ?? ((tokens, i, options, env, self) => self.renderToken(tokens, i, options));
  md.renderer.rules.link_open = (tokens, i, options, env, self) => {
    // markdown-it's validateLink already refuses javascript:, vbscript:, file: and data: URLs
    tokens[i].attrSet("target", "_blank");
    tokens[i].attrSet("rel", "noopener noreferrer nofollow");
    return linkOpen(tokens, i, options, env, self);
  };
  return md;
}

// Index just after the `line`-th line break of `text` (markdown-it counts \r\n, \r and \n as one break each).
function offsetOfLine(text, line) {
  const breaks = /\r\n?|\n/g;
  let offset = 0;
  for (let i = 0; i < line && breaks.exec(text); i++) offset = breaks.lastIndex;
  return offset;
}

class IncrementalView {
  constructor(root) {
    this.root = root;
    this.doneChars = 0; // source characters rendered as finished blocks
    this.doneHtml = [];
    this.tailHtml = "";
    this.tail = Object.assign(document.createElement("div"), { className: "nicechat-tail" });
    this.tail.style.display = "contents";
    root.replaceChildren(this.tail);
  }

  // Render `source`. Blocks before the last one are final once the last block's first line is complete; until
  // then that line may still turn out to continue the block before it, so that one stays open too.
  update(source) {
    const rest = source.slice(this.doneChars);
    const tokens = md.parse(rest, {});
    const starts = [];
    tokens.forEach((token, i) => token.level === 0 && token.nesting !== -1 && starts.push(i));
    const lastOffset = starts.length ? offsetOfLine(rest, tokens[starts.at(-1)].map[0]) : 0;
    const open = /[\r\n]/.test(rest.slice(lastOffset)) ? 1 : 2; // blocks that may still change
    const keep = starts.length - open; // index (in starts) of the first block that stays open
    if (keep > 0) {
      for (let b = 0; b < keep; b++) {
        const html = md.renderer.render(tokens.slice(starts[b], starts[b + 1]), md.options, {});
        this.tail.insertAdjacentHTML("beforebegin", html);
        this.doneHtml.push(html);
      }
      this.doneChars += offsetOfLine(rest, tokens[starts[keep]].map[0]);
      tokens.splice(0, starts[keep]);
    }
    const html = md.renderer.render(tokens, md.options, {});
    if (html !== this.tailHtml) {
      this.tail.innerHTML = html;
      this.tailHtml = html;
    }
  }

  // The final form is exactly a one-shot render (a late reference definition can change earlier blocks).
  finish(source) {
    this.update(source);
    const html = md.render(source);
    if (html === this.doneHtml.join("") + this.tailHtml) this.tail.replaceWith(...this.tail.childNodes);
    else this.root.innerHTML = html;
  }
}

// Auto-scroll: follow the stream while the reader is at the bottom; scrolling up to read stops it.
let following = true;
let lastScrollTop = 0;
const page = () => document.scrollingElement;
const atBottom = () => page().scrollHeight - page().scrollTop - page().clientHeight <= FOLLOW_SLACK_PX;
addEventListener(
  "scroll",
  () => {
    if (page().scrollTop < lastScrollTop - 1) following = atBottom(); // moved up: reading, unless still at the end
    else if (atBottom()) following = true;
    lastScrollTop = page().scrollTop;
  },
  { passive: true },
);
function followStream(force = false) {
  if (force) following = true;
  if (following) page().scrollTop = page().scrollHeight;
}

export default {
  template: `<div class="nicegui-markdown nicechat-markdown"></div>`,
  props: { text: String, streaming: Boolean },
  mounted() {
    this.source = this.text ?? "";
    this.total = this.streaming ? null : this.source.length; // final length, once the server has said it
    this.done = false;
    this.asking = false;
    this.frame = null;
    this.view = new IncrementalView(this.$el);
    if (this.streaming) {
      this.view.update(this.source);
      followStream(true); // a reply just started (or a reload mid-reply): show where it grows
    } else {
      this.$el.innerHTML = md.render(this.source); // a finished message: one render, nothing to keep
      this.markDone();
    }
  },
  unmounted() {
    if (this.frame !== null) cancelAnimationFrame(this.frame);
  },
  methods: {
    append(offset, chunk) {
      if (offset > this.source.length) return this.askResync(); // something went missing: get it from the server
      const fresh = chunk.slice(this.source.length - offset); // a replay may repeat text we have
      this.asking = false;
      if (!fresh) return;
      this.source += fresh;
      this.schedule();
    },
    finish(total) {
      this.total = total;
      if (this.source.length < total) this.askResync();
      else this.schedule();
    },
    askResync() {
      if (this.asking) return;
      this.asking = true;
      this.$emit("resync", this.source.length);
    },
    schedule() {
      this.frame ??= requestAnimationFrame(() => {
        this.frame = null;
        this.render();
        followStream();
      });
    },
    render() {
      if (this.done) return;
      if (this.total !== null && this.source.length >= this.total) {
        this.view.finish(this.source);
        this.markDone();
      } else {
        this.view.update(this.source);
      }
    },
    markDone() {
      this.done = true;
      this.$el.dataset.done = ""; // for tests and the benchmark: the final form is on screen
    },
  },
};
