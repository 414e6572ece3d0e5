// Bundle entry: the third-party code the streaming markdown component needs, as one offline ES module.
// Rebuild with `npm ci && npm run build` in this folder; the output nicechat-markdown.js is committed.
import MarkdownIt from "markdown-it";
import hljs from "highlight.js/lib/common";
import highlightCss from "highlight.js/styles/github.min.css";

export { MarkdownIt, hljs, highlightCss };
