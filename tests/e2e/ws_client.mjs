// ws_client.mjs -- the `ws` npm WebSocket client against a running llmq gateway: several
// generate requests multiplexed on one socket, every token index exactly once, then a
// cancel. Usage: node ws_client.mjs <ws://host:port/v1/ws> [apiKey]
// Prints one JSON line; exits 1 with the reason on the first failure.
import WebSocket from 'ws';

const [url, apiKey] = process.argv.slice(2);
const headers = apiKey ? { Authorization: `Bearer ${apiKey}` } : {};
const ws = new WebSocket(url, ['llmq.v1'], { headers });
const N = 4, TOKENS = 20;
const state = {};
let done = 0;
function fail(msg) { console.error(`ws_client: ${msg}`); process.exit(1); }
setTimeout(() => fail('timed out after 30 s'), 30000).unref();

ws.on('unexpected-response', (_req, res) => fail(`upgrade answered ${res.statusCode}`));
ws.on('error', (e) => fail(`socket error: ${e.message}`));
ws.on('open', () => {
  for (let i = 0; i < N; i++) {
    state[`r${i}`] = { next: 0, text: '', accepted: false };
    ws.send(JSON.stringify({ type: 'generate', id: `r${i}`, prompt: 'Once upon', max_tokens: TOKENS, seed: i }));
  }
  // one more that we cancel right after it is accepted
  state.c = { next: 0, text: '', accepted: false };
  ws.send(JSON.stringify({ type: 'generate', id: 'c', prompt: 'cancel me', max_tokens: 100000, seed: 1 }));
});
ws.on('message', (data) => {
  const m = JSON.parse(data.toString());
  const s = state[m.id];
  if (!s) fail(`message for unknown id ${m.id}: ${data}`);
  if (m.type === 'accepted') {
    s.accepted = true;
    if (m.id === 'c') ws.send(JSON.stringify({ type: 'cancel', id: 'c' }));
  } else if (m.type === 'token') {
    if (m.index !== s.next) fail(`${m.id}: index ${m.index}, expected ${s.next}`);
    s.next += m.count ?? 1;
    s.text += m.text;
  } else if (m.type === 'done') {
    if (m.id === 'c') {
      if (m.finish_reason !== 'cancelled') fail(`cancelled stream finished with ${m.finish_reason}`);
      s.cancelled = true;
    } else {
      if (s.next !== TOKENS) fail(`${m.id}: ${s.next} tokens, expected ${TOKENS}`);
      if (m.usage?.completion_tokens !== TOKENS) fail(`${m.id}: usage ${JSON.stringify(m.usage)}`);
    }
    if (++done === N + 1) {
      console.log(JSON.stringify({ streams: N, tokens: N * TOKENS, cancelled: !!state.c.cancelled,
                                   text0: state.r0.text }));
      ws.close(1000);
    }
  } else if (m.type === 'error') {
    fail(`error message: ${data}`);
  }
});
ws.on('close', () => { if (done !== N + 1) fail('socket closed early'); process.exit(0); });
