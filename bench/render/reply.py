"""The benchmark's reply: realistic LLM markdown (headings, lists, code, a table, links), cut into small deltas."""

from __future__ import annotations

# Characters per delta: ~4 is what OpenAI-style models stream (one token), giving >1,000 deltas for 4 KB.
DELTA_CHARS = 4
# Ends every reply, so the browser can tell that the last delta is on screen.
SENTINEL = 'End of the benchmark reply.'

SECTION = '''## {n}. Streaming a reply without quadratic cost

When a model streams its answer, every *delta* is a few characters. Re-rendering the **whole message** for each
one makes the server's work grow with the square of the reply's length; shipping only the new text keeps it linear.

- The server keeps the full text, so a reload shows everything so far.
- The browser renders markdown itself, block by block, as it arrives.
- Deltas that come faster than ~30 a second are sent together; see [the issue](https://example.com/issues/3).

```python
async def stream_reply(messages: list[dict[str, str]]) -> str:
    """Stream a reply and return its full text."""
    parts = []
    async for delta in upstream.deltas(messages):
        parts.append(delta)
        view.append(delta)  # only the new text goes to the browser
    return "".join(parts)
```

| Approach | Server CPU | Bytes on the socket |
| --- | --- | --- |
| Re-render per delta | grows as n² | grows as n² |
| Append deltas | grows as n | about the text size |

Numbered steps work too:

1. Parse the new text at the end of the message.
2. Keep the finished blocks as they are; use `insertAdjacentHTML` for new ones.
3. Re-render only the block that is still growing.

> A quote, to be sure block quotes stream well: the last block is the only one that changes.

'''


def reply_text(kilobytes: float) -> str:
    """A markdown reply of at least `kilobytes` KB, cut at a block boundary, ending with SENTINEL."""
    target = int(kilobytes * 1024)
    text = ''
    while len(text) < target:
        text += SECTION.format(n=text.count('## ') + 1)
    cut = text.index('\n\n', target) + 2  # blank lines only ever separate blocks in SECTION
    return text[:cut] + SENTINEL + '\n'


def deltas(text: str, size: int = DELTA_CHARS) -> list[str]:
    """`text` cut into deltas of `size` characters."""
    return [text[i:i + size] for i in range(0, len(text), size)]


def words(count: int) -> list[str]:
    """Plain words as deltas, for timing each delta to the screen (the page counts `wN` words)."""
    return [f'w{i} ' for i in range(1, count)] + [f'w{count} {SENTINEL}']
