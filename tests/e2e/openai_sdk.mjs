// openai_sdk.mjs -- the official OpenAI Node SDK (v6) against a running llmq gateway:
// a streamed chat completion, a streamed text completion and a non-streamed chat completion
// through /v1. Usage: node openai_sdk.mjs <baseURL ending in /v1> [apiKey]
// Prints one JSON line with what it saw; exits 1 with the reason on the first failure.
import OpenAI from 'openai';

const [baseURL, apiKey = 'none'] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 30000 });
const out = {};
function fail(msg) { console.error(`openai_sdk: ${msg}`); process.exit(1); }

try {
  // 1. streamed chat completion, with usage
  const chat = await client.chat.completions.create({
    model: 'synthetic', messages: [{ role: 'user', content: 'Say hello' }],
    max_tokens: 16, seed: 7, stream: true, stream_options: { include_usage: true },
  });
  let chatText = '', chatChunks = 0, finish = null, usage = null;
  for await (const chunk of chat) {
    if (chunk.usage) usage = chunk.usage;
    const c = chunk.choices?.[0];
    if (!c) continue;
    if (c.delta?.content) { chatText += c.delta.content; chatChunks++; }
    if (c.finish_reason) finish = c.finish_reason;
  }
  if (!chatChunks) fail('streamed chat: no content chunks');
  if (!finish) fail('streamed chat: no finish_reason');
  if (!usage || usage.completion_tokens !== 16) fail(`streamed chat: usage ${JSON.stringify(usage)}`);
  Object.assign(out, { chat_text: chatText, chat_chunks: chatChunks, chat_finish: finish, chat_usage: usage });

  // 2. streamed text completion
  const comp = await client.completions.create({
    model: 'synthetic', prompt: 'Once upon a time', max_tokens: 12, seed: 3, stream: true,
  });
  let compText = '', compChunks = 0;
  for await (const chunk of comp) {
    const c = chunk.choices?.[0];
    if (c?.text) { compText += c.text; compChunks++; }
  }
  if (!compChunks) fail('streamed completion: no text chunks');
  Object.assign(out, { completion_text: compText, completion_chunks: compChunks });

  // 3. the same chat, not streamed: same seed, same text (the engine is deterministic)
  const whole = await client.chat.completions.create({
    model: 'synthetic', messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 16, seed: 7,
  });
  const text = whole.choices?.[0]?.message?.content ?? '';
  if (text !== chatText) fail(`non-streamed text differs: ${JSON.stringify(text)} vs ${JSON.stringify(chatText)}`);
  out.nonstream_same = true;

  // 4. the models list
  const models = await client.models.list();
  out.models = models.data.map((m) => m.id);
  console.log(JSON.stringify(out));
} catch (e) {
  fail(`${e.constructor?.name}: ${e.status ?? ''} ${e.message}`);
}
