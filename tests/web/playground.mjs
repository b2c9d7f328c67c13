// playground.mjs -- drives the gateway's web playground (web/index.html, GET /) in a real
// headless Chromium (Debian's /usr/bin/chromium through playwright-core) against a running
// `llmq up`, and checks what a user sees against the plain HTTP API.
//
//   node playground.mjs open URL [SCREENSHOT]      gateway without API keys (synthetic engine)
//   node playground.mjs auth URL KEY [SCREENSHOT]  gateway started with --api-keys KEY
//                                                  (a deterministic engine: llama, greedy)
//
// Prints one JSON object of results on stdout (test_web_playground.c checks each field) and
// the reason of every failed step on stderr; exits 0 when every step passed. Every wait is
// bounded; the browser runs with a fresh temporary profile and no background networking.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [mode, base, ...rest] = process.argv.slice(2);
const key = mode === 'auth' ? rest.shift() : '';
const shot = rest.shift() || '';
const chromiumPath = process.env.LLMQ_CHROMIUM || '/usr/bin/chromium';
const r = { mode, ok: true, failures: [] };
const fail = msg => { r.ok = false; r.failures.push(msg); process.stderr.write('FAIL: ' + msg + '\n'); };
const check = (cond, msg) => { if (!cond) fail(msg); return !!cond; };
const sleep = ms => new Promise(res => setTimeout(res, ms));

// Bounded poll: resolves to fn()'s first truthy value, or null after ms.
async function until(fn, ms, every = 50) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) return null;
    await sleep(every);
  }
}

async function metricsValue(name) {
  const text = await (await fetch(base + '/metrics')).text();
  const m = text.match(new RegExp('^' + name + '(?:\\{[^}]*\\})? ([0-9.e+-]+)$', 'm'));
  return m ? +m[1] : null;
}

// The same request over HTTP: the body is exactly what the page sent on the WebSocket, less
// the WebSocket envelope (type, id).
async function httpCompletion(frame) {
  const body = { ...frame };
  delete body.type;
  delete body.id;
  const headers = { 'content-type': 'application/json' };
  if (key) headers.authorization = 'Bearer ' + key;
  const res = await fetch(base + '/v1/completions', { method: 'POST', headers, body: JSON.stringify(body) });
  const j = await res.json();
  return { status: res.status, text: j.choices?.[0]?.text, finish: j.choices?.[0]?.finish_reason,
           tokens: j.usage?.completion_tokens };
}

const profile = mkdtempSync(join(tmpdir(), 'llmq-web-chromium-'));
let browser = null;
const timer = setTimeout(() => { fail('whole run took over 25 s'); finish(2); }, 25000);

async function finish(code) {
  clearTimeout(timer);
  try { if (browser) await browser.close(); } catch { /* already gone */ }
  rmSync(profile, { recursive: true, force: true });
  process.stdout.write(JSON.stringify(r) + '\n');
  process.exit(code ?? (r.ok ? 0 : 1));
}

// One page state read in the browser: what the user sees.
const view = page => page.evaluate(() => {
  const $ = id => document.getElementById(id);
  return { out: $('out').textContent, stats: $('stats').textContent, dash: $('dash').textContent,
           go: !$('go').disabled, stop: !$('stop').disabled };
});
const tokensShown = v => { const m = v.stats.match(/(\d+) tokens/); return m ? +m[1] : 0; };
const dashValue = (v, label) => { const m = v.dash.match(new RegExp(label + ': ([0-9.e+-]+)')); return m ? +m[1] : null; };

// Fills the form, clicks Generate, waits for done/error. Returns the final view, the frame the
// page sent, and whether the output stayed the same once done was shown.
async function generate(page, sent, { prompt, max, temp, apiKey = '', seed = '' }, ms = 10000) {
  await page.fill('#prompt', prompt);
  await page.fill('#max', String(max));
  await page.fill('#temp', String(temp));
  await page.fill('#seed', String(seed));
  await page.fill('#key', apiKey);
  sent.length = 0;
  await page.click('#go');
  const v = await until(async () => { const x = await view(page); return /-- (done|error)|WebSocket failed/.test(x.stats) ? x : null; }, ms);
  if (!v) return { v: await view(page), frame: sent[0], timedOut: true };
  await sleep(300);
  const after = await view(page);
  return { v: after, frame: sent[0], stable: after.out === v.out };
}

async function main() {
  // A persistent context on a fresh temp dir is how playwright takes --user-data-dir.
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath, headless: true, timeout: 20000, viewport: { width: 1000, height: 760 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  const page = browser.pages()[0] || await browser.newPage();
  const consoleErrors = [], expectedErrors = [];
  let expectRefusal = false;   // while set, a refused WebSocket handshake is the point of the step
  page.on('console', m => {
    if (m.type() !== 'error') return;
    const where = m.location()?.url || '';
    const text = m.text() + (where ? ' (' + where + ')' : '');
    // A refused handshake is logged by Chromium itself, and so is the page's GET /v1/models
    // that then reads the gateway's 401 message: both are the point of those steps.
    if (expectRefusal && (/WebSocket/.test(text) || /401/.test(text))) expectedErrors.push(text);
    else consoleErrors.push(text); // the page names its icon (data:), so no /favicon.ico 404
  });
  page.on('pageerror', e => consoleErrors.push('uncaught: ' + e.message));
  page.on('requestfailed', q => consoleErrors.push('request failed: ' + q.url() + ' ' + q.failure()?.errorText));
  const sent = [];
  page.on('websocket', ws => {
    r.ws_url = ws.url();
    ws.on('framesent', f => { try { const j = JSON.parse(f.payload); if (j.type === 'generate') sent.push(j); } catch { /* not JSON */ } });
  });

  const resp = await page.goto(base + '/', { timeout: 10000 });
  check(resp && resp.status() === 200, `GET / answered ${resp && resp.status()}`);
  r.title = await page.title();
  check(r.title === 'llmq playground', `title is "${r.title}"`);
  // The metrics view loads on open.
  const dash0 = await until(async () => { const x = await view(page); return /redis up: 1/.test(x.dash) ? x : null; }, 5000);
  r.dash_loaded = check(dash0, 'metrics view did not show "redis up: 1" within 5 s');

  if (mode === 'open') await openChecks(page, sent);
  else await authChecks(page, sent, v => { expectRefusal = v; });

  if (shot) { await page.screenshot({ path: shot, fullPage: true }); r.screenshot = shot; }
  r.console_errors = consoleErrors;
  r.expected_errors = expectedErrors;
  check(consoleErrors.length === 0, 'console errors: ' + JSON.stringify(consoleErrors));
}

// Gateway without keys, synthetic engine (--step-ms 5).
async function openChecks(page, sent) {
  // 1. Temperature 0.8 with a fixed seed (the page's seed field): the same request over HTTP
  //    must give exactly the same text, token count and finish reason.
  const g = await generate(page, sent, { prompt: 'Once upon a time', max: 24, temp: 0.8, seed: 7 });
  r.frame = g.frame;
  check(!g.timedOut, 'generation did not finish within 10 s: ' + g.v.stats);
  check(g.stable, 'output kept growing after done was shown');
  r.page_text = g.v.out;
  r.page_tokens = tokensShown(g.v);
  r.page_done = /-- done \(length\)/.test(g.v.stats);
  check(r.page_done, 'stats do not say done (length): ' + g.v.stats);
  check(g.v.out.trim().length > 0, 'no text appeared');
  check(g.frame && g.frame.seed === 7, 'the page did not send the seed it was given: ' + JSON.stringify(g.frame));
  if (g.frame) {
    const h = await httpCompletion(g.frame);
    r.http_tokens = h.tokens;
    r.http_text = h.text;
    check(h.status === 200, 'HTTP /v1/completions answered ' + h.status);
    check(r.page_tokens === 24 && h.tokens === 24, `tokens: page ${r.page_tokens}, HTTP ${h.tokens}, want 24`);
    check(h.finish === 'length', 'HTTP finish_reason ' + h.finish);
    const words = s => (s || '').trim().split(/\s+/).length;
    r.page_words = words(g.v.out);
    r.http_words = words(h.text);
    check(r.page_words === r.http_words, `words: page ${r.page_words}, HTTP ${r.http_words}`);
    r.text_equal = check(h.text === g.v.out, `text differs: page ${JSON.stringify(g.v.out)} HTTP ${JSON.stringify(h.text)}`);
  }
  check(g.v.go && !g.v.stop, 'after done: Generate should be enabled and Stop disabled');
  // An empty seed field sends no seed (the gateway draws one).
  const g2 = await generate(page, sent, { prompt: 'Once upon a time', max: 4, temp: 0.8 });
  r.noseed_sent = check(g2.frame && !('seed' in g2.frame), 'empty seed field: the page sent ' + JSON.stringify(g2.frame));
  check(!g2.timedOut && /-- done \(length\)/.test(g2.v.stats), 'no-seed run not done: ' + g2.v.stats);

  // 2. Stop cancels a long generation (4000 tokens at 5 ms a step would take 20 s); meanwhile
  //    the metrics view shows the open stream.
  await page.fill('#max', '4000');
  await page.click('#go');
  const running = await until(async () => { const x = await view(page); return tokensShown(x) >= 20 ? x : null; }, 5000);
  check(running && running.stop && !running.go, 'long generation: no 20 tokens within 5 s, or buttons wrong');
  const dashOpen = await until(async () => { const x = await view(page); return dashValue(x, 'open streams') >= 1 ? x : null; }, 4500);
  r.dash_open_streams_seen = check(dashOpen, 'metrics view never showed open streams >= 1 during a generation');
  const tStop = Date.now();
  await page.click('#stop');
  const stopped = await until(async () => { const x = await view(page); return /-- done \(cancelled\)/.test(x.stats) ? x : null; }, 3000);
  r.stop_ms = Date.now() - tStop;
  if (check(stopped, 'Stop: no "done (cancelled)" within 3 s: ' + (await view(page)).stats)) {
    r.stop_tokens = tokensShown(stopped);
    check(r.stop_tokens < 4000, 'Stop: all 4000 tokens arrived');
    await sleep(500);
    const later = await view(page);
    check(later.out === stopped.out, 'Stop: output kept growing after the cancel');
    check(later.go && !later.stop, 'after Stop: Generate should be enabled and Stop disabled');
  }

  // 3. The metrics view follows the gateway: once idle, it shows the same counters as /metrics.
  const want = await until(async () => { const o = await metricsValue('llmq_open_streams'); return o === 0 ? 1 : null; }, 3000);
  check(want, 'gateway still reports open streams after the cancel');
  const tokensTotal = await metricsValue('llmq_tokens_streamed_total');
  r.metrics_tokens_streamed = tokensTotal;
  const dashIdle = await until(async () => {
    const x = await view(page);
    return dashValue(x, 'tokens streamed') === tokensTotal && dashValue(x, 'open streams') === 0 ? x : null;
  }, 4500);
  r.dash_text = (dashIdle || await view(page)).dash;
  r.dash_updated = check(dashIdle, `metrics view did not reach tokens streamed ${tokensTotal}, open streams 0: ${r.dash_text}`);
  check(tokensTotal >= 24 + (r.stop_tokens || 0), `llmq_tokens_streamed_total ${tokensTotal} < tokens the page received`);
}

// Gateway with --api-keys KEY and a deterministic engine.
async function authChecks(page, sent, expectRefusal) {
  const req = { prompt: 'Once upon a time', max: 32, temp: 0 };
  // 1. No key: a clear message, no hang, buttons usable.
  expectRefusal(true);
  let g = await generate(page, sent, req, 5000);
  r.nokey_stats = g.v.stats;
  check(!g.timedOut && /WebSocket failed: Missing API key.*\(HTTP 401\)/.test(g.v.stats), 'no key: stats do not explain: ' + g.v.stats);
  check(g.v.out === '', 'no key: text appeared');
  check(g.v.go, 'no key: Generate stays disabled');
  // 2. A wrong key: the same.
  g = await generate(page, sent, { ...req, apiKey: 'wrong-' + key }, 5000);
  r.badkey_stats = g.v.stats;
  check(!g.timedOut && /WebSocket failed: Incorrect API key.*\(HTTP 401\)/.test(g.v.stats), 'wrong key: stats do not explain: ' + g.v.stats);
  expectRefusal(false);
  // 3. The right key: text, equal to what HTTP returns for the same request (temperature 0).
  g = await generate(page, sent, { ...req, apiKey: key });
  r.frame = g.frame;
  r.page_text = g.v.out;
  r.page_tokens = tokensShown(g.v);
  check(!g.timedOut && /-- done \((length|stop)\)/.test(g.v.stats), 'with key: not done: ' + g.v.stats);
  check(g.stable, 'with key: output kept growing after done was shown');
  check(g.v.out.trim().length > 0, 'with key: no text appeared');
  if (check(g.frame, 'with key: the page sent no generate frame')) {
    const h = await httpCompletion(g.frame);
    r.http_text = h.text;
    r.http_tokens = h.tokens;
    check(h.status === 200, 'HTTP /v1/completions answered ' + h.status);
    r.text_equal = check(h.text === g.v.out, `text differs: page ${JSON.stringify(g.v.out)} HTTP ${JSON.stringify(h.text)}`);
    check(h.tokens === r.page_tokens, `tokens: page ${r.page_tokens}, HTTP ${h.tokens}`);
  }
  // 4. Changing the key reconnects: with the socket of the right key open, a wrong key must
  //    fail (not reuse the old socket), and the right key works again after it.
  expectRefusal(true);
  g = await generate(page, sent, { ...req, apiKey: 'other-' + key }, 5000);
  r.rekey_stats = g.v.stats;
  check(!g.timedOut && /WebSocket failed: Incorrect API key/.test(g.v.stats), 'key changed to a wrong one: the page did not reconnect: ' + g.v.stats);
  check(g.v.out === '', 'key changed to a wrong one: text appeared');
  expectRefusal(false);
  g = await generate(page, sent, { ...req, apiKey: key });
  r.rekey_back = check(!g.timedOut && g.v.out === r.page_text, 'key changed back: not the same text: ' + g.v.stats);
  // The metrics view counts the tokens of every request (page and HTTP) once it refreshes.
  const total = await metricsValue('llmq_tokens_streamed_total');
  const dash = await until(async () => { const x = await view(page); return dashValue(x, 'tokens streamed') === total ? x : null; }, 4500);
  r.metrics_tokens_streamed = total;
  r.dash_updated = check(dash && total >= 3 * r.page_tokens, `metrics view: want tokens streamed ${total} (>= ${3 * r.page_tokens}): ${(await view(page)).dash}`);
}

main().then(() => finish(), e => { fail('exception: ' + (e && e.stack || e)); finish(1); });
