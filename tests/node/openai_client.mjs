// The official `openai` npm package against this app's /v1: `node openai_client.mjs <app url> <token>`.
// Makes five requests in a fixed order (the Python test queues the fake model's answers to match) and prints
// what the SDK returned as one JSON object.
import OpenAI from 'openai';

const [url, token] = process.argv.slice(2);
const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: token, maxRetries: 0, timeout: 10_000 });
const hello = [{ role: 'user', content: 'hello' }];
const weather = {
  type: 'function',
  function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
};
const out = {};

// 1. Streamed, with the usage chunk.
const stream = await client.chat.completions.create({
  model: 'fake-model', messages: hello, stream: true, stream_options: { include_usage: true }, temperature: 0.3,
});
out.streamed = { content: [], finish: null, usage: null };
for await (const chunk of stream) {
  const choice = chunk.choices[0];
  if (choice?.delta?.content) out.streamed.content.push(choice.delta.content);
  if (choice?.finish_reason) out.streamed.finish = choice.finish_reason;
  if (chunk.usage) out.streamed.usage = chunk.usage;
}

// 2. Whole.
const whole = await client.chat.completions.create({ model: 'fake-model', messages: hello });
out.whole = { content: whole.choices[0].message.content, object: whole.object, usage: whole.usage };

// 3. A tool call, streamed and merged by the SDK's own stream helper; then 4. its result sent back.
const runner = client.chat.completions.stream({ model: 'fake-model', messages: hello, tools: [weather] });
const first = await runner.finalChatCompletion();
const call = first.choices[0].message.tool_calls[0];
out.toolCall = { finish: first.choices[0].finish_reason, id: call.id, name: call.function.name,
                 arguments: JSON.parse(call.function.arguments) };
const second = await client.chat.completions.create({
  model: 'fake-model', tools: [weather],
  messages: [...hello, first.choices[0].message, { role: 'tool', tool_call_id: call.id, content: '{"sky":"sunny"}' }],
});
out.afterTool = second.choices[0].message.content;

// An unknown model: the SDK's NotFoundError, before anything goes upstream.
try {
  await client.chat.completions.create({ model: 'gpt-9', messages: hello });
} catch (error) {
  out.unknownModel = { notFound: error instanceof OpenAI.NotFoundError, status: error.status, code: error.code };
}

// 5. A failure mid-stream: the SDK throws its APIError out of the loop.
out.midStream = { content: [] };
try {
  for await (const chunk of await client.chat.completions.create({ model: 'fake-model', messages: hello, stream: true })) {
    if (chunk.choices[0]?.delta?.content) out.midStream.content.push(chunk.choices[0].delta.content);
  }
} catch (error) {
  out.midStream.apiError = error instanceof OpenAI.APIError;
  out.midStream.message = error.message;
}

console.log(JSON.stringify(out));
