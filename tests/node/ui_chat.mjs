// The `ai` package's own chat logic (AbstractChat + DefaultChatTransport, what React's useChat runs) and its UI
// message stream reader against this app's /api/ui-chat, without React: `node ui_chat.mjs <app url> <token>`.
// Makes four requests in a fixed order (the Python test queues the fake model's answers) and prints one JSON object.
import { AbstractChat, DefaultChatTransport, readUIMessageStream } from 'ai';

const [url, token] = process.argv.slice(2);

// The state React keeps for useChat, as plain fields.
class State {
  status = 'ready';
  error = undefined;
  messages = [];
  pushMessage = (message) => { this.messages = [...this.messages, message]; };
  popMessage = () => { this.messages = this.messages.slice(0, -1); };
  replaceMessage = (index, message) => { this.messages = this.messages.map((m, i) => (i === index ? message : m)); };
  snapshot = (value) => structuredClone(value);
}

class Chat extends AbstractChat {
  constructor(init) { super({ ...init, state: new State() }); }
}

const transport = () => new DefaultChatTransport({
  api: `${url}/api/ui-chat`, headers: { Authorization: `Bearer ${token}` }, body: { model: 'fake-model' },
});
const summary = (message) => ({
  role: message.role,
  parts: message.parts.map((p) => ({ type: p.type, ...(p.text !== undefined && { text: p.text, state: p.state }) })),
});
const out = {};

// 1 and 2: a conversation of two turns, the second with an image.
let errors = [];
const chat = new Chat({ transport: transport(), onError: (error) => errors.push(error.message) });
await chat.sendMessage({ text: 'Hi' });
out.firstTurn = { status: chat.status, messages: chat.messages.map(summary) };
await chat.sendMessage({
  text: 'What is this?', files: [{ type: 'file', mediaType: 'image/png', url: 'data:image/png;base64,iVBORw0KGgo=' }],
});
out.secondTurn = { status: chat.status, count: chat.messages.length, last: summary(chat.messages.at(-1)) };
out.errors = errors;

// 3: a failure mid-stream becomes the chat's error.
const failing = new Chat({ transport: transport(), onError: () => {} });
await failing.sendMessage({ text: 'Hi' });
out.failed = { status: failing.status, error: failing.error?.message, last: summary(failing.messages.at(-1)) };

// 4: the transport's chunk stream read by readUIMessageStream: one snapshot of the message per chunk it applies.
const chunks = await transport().sendMessages({
  chatId: 'c1', trigger: 'submit-message', messageId: undefined, abortSignal: undefined,
  messages: [{ id: 'u1', role: 'user', parts: [{ type: 'text', text: 'Count' }] }],
});
const snapshots = [];
for await (const message of readUIMessageStream({ stream: chunks, terminateOnError: true })) {
  snapshots.push(message.parts.filter((p) => p.type === 'text').map((p) => p.text).join(''));
}
out.reader = { snapshots };

console.log(JSON.stringify(out));
