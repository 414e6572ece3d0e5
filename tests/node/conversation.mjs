// A stored conversation from JavaScript: `node conversation.mjs <app url> <personal key> <conversation id>`.
// 1. The `openai` npm package continues the conversation with the X-Conversation-Id header (streamed).
// 2. fetch() posts the next turn to /api/chat with conversation_id, reads NDJSON lines until the reply's `offset`
//    passes 20 characters, aborts (a real disconnect), then resumes at /api/conversations/{id}/stream with the
//    last `offset` and the `reply_id` from the start line.
// 3. The `ai` package's transport (what useChat posts, with its own made-up chat id) sends the next turn to
//    /api/ui-chat with the header, and readUIMessageStream reads the reply. Prints what each got as one JSON object.
import { DefaultChatTransport, readUIMessageStream } from 'ai';
import OpenAI from 'openai';

const [url, key, conversationId] = process.argv.slice(2);
const auth = { Authorization: `Bearer ${key}` };
const out = {};

const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: key, maxRetries: 0, timeout: 20_000 });
const stream = await client.chat.completions.create(
  { model: 'fake-model', messages: [{ role: 'user', content: 'first, from npm' }], stream: true },
  { headers: { 'X-Conversation-Id': conversationId } });
out.sdk = '';
for await (const chunk of stream) out.sdk += chunk.choices[0]?.delta?.content ?? '';

// Yields each NDJSON line of a response as an object.
async function* lines(response) {
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const bytes of response.body) {
    buffered += decoder.decode(bytes, { stream: true });
    let end;
    while ((end = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, end);
      buffered = buffered.slice(end + 1);
      if (line) yield JSON.parse(line);
    }
  }
}

const abort = new AbortController();
const first = await fetch(`${url}/api/chat`, {
  method: 'POST', signal: abort.signal, headers: { ...auth, 'Content-Type': 'application/json' },
  body: JSON.stringify({ conversation_id: conversationId, messages: [{ role: 'user', content: 'second' }] }),
});
let offset = 0, replyId = null, text = '';
try {
  for await (const line of lines(first)) {
    if (line.type === 'start') replyId = line.id;
    if (line.type === 'chunk') {
      text += line.content;
      offset = line.offset;
      if (offset > 20) abort.abort();
    }
  }
} catch (error) {
  if (error.name !== 'AbortError') throw error;
}
out.before = { text, offset };
const again = await fetch(`${url}/api/conversations/${conversationId}/stream?offset=${offset}&reply_id=${replyId}`,
                          { headers: auth });
let last = null;
out.after = '';
for await (const line of lines(again)) {
  if (line.type === 'chunk') out.after += line.content;
  if (line.type === 'done' || line.type === 'error') last = line;
}
out.last = last;

const transport = new DefaultChatTransport({
  api: `${url}/api/ui-chat`, headers: { ...auth, 'X-Conversation-Id': conversationId } });
const chunks = await transport.sendMessages({
  chatId: 'made-up-by-useChat', trigger: 'submit-message', messageId: undefined, abortSignal: undefined,
  messages: [{ id: 'u1', role: 'user', parts: [{ type: 'text', text: 'third, from useChat' }] }],
});
let message = null;
for await (const snapshot of readUIMessageStream({ stream: chunks, terminateOnError: true })) message = snapshot;
out.ui = { id: message.id, text: message.parts.filter((p) => p.type === 'text').map((p) => p.text).join('') };
console.log(JSON.stringify(out));
