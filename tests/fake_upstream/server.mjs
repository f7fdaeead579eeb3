#!/usr/bin/env node
// Deterministic fake OpenAI + Anthropic upstream for deja's end-to-end tests. No dependencies.
//
//   node server.mjs [--port N] [--exit-with-stdin]
//   -> prints "fake upstream listening on 127.0.0.1:<port>"
//
// Answers are a pure function of the request ("echo: <last user text> [<hash>]"), except volatile
// fields (ids, created) that differ on every call, as with the real providers.
//
// Special models (any route):
//   fake-gated        held until POST /__fake/release
//   fake-error-500    500 with a provider-shaped error body
//   fake-429          429 with retry-after
//   fake-truncate     stream (or body) cut off half-way, connection closed
//   fake-slow-stream  stream frames are sent one per POST /__fake/step (the rest on /__fake/release)
//
// Control endpoints:
//   GET  /__fake/stats           {calls:{path:n}, total, last_headers, last_request, requests:[…], held}
//   POST /__fake/reset           zero the counters (held requests are released first)
//   POST /__fake/release?min=N   wait until >= N gated requests are held, then release all held
//   POST /__fake/step?n=K        wait for a held slow stream, send its next K frames
//   GET  /__fake/wait?gated=N    answer once >= N gated requests are held
//   POST /__fake/variant?match=M&suffix=S   answers to user texts containing M get S appended
//                                (default " (changed)"); no match clears it; reset clears it too
//
// A chat request whose system message carries "[deja-replay-judge v1]" is answered by the fake
// judge (judge.mjs) with a JSON verdict, for `deja replay --compare judge`.
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import * as anthropic from './anthropic.mjs';
import * as openai from './openai.mjs';
import { knobs } from './util.mjs';

const ROUTES = {
  '/v1/chat/completions': { provider: 'openai', handler: openai.chatCompletions },
  '/v1/completions': { provider: 'openai', handler: openai.completions },
  '/v1/embeddings': { provider: 'openai', handler: openai.embeddings },
  '/v1/responses': { provider: 'openai', handler: openai.responses },
  '/v1/messages': { provider: 'anthropic', handler: anthropic.messages },
};
const MAX_BODY = 16 << 20;
const LOG_LIMIT = 50;

const state = { calls: {}, total: 0, requests: [], gated: [], slow: [], waiters: [] };

function notify() {
  state.waiters = state.waiters.filter((w) => (w.pred() ? (w.resolve(), false) : true));
}

// Resolves when pred() holds; event-driven (re-checked on every state change), never polled.
function waitFor(pred, req) {
  if (pred()) return Promise.resolve();
  return new Promise((resolve) => {
    const w = { pred, resolve };
    state.waiters.push(w);
    req.on('close', () => {
      state.waiters = state.waiters.filter((x) => x !== w);
    });
  });
}

function errorReply(provider, status, message, kind) {
  if (provider === 'anthropic') {
    const types = { 400: 'invalid_request_error', 401: 'authentication_error', 404: 'not_found_error',
      405: 'invalid_request_error', 429: 'rate_limit_error', 500: 'api_error' };
    return anthropic.anthropicError(status, types[status] ?? 'api_error', message);
  }
  const types = { 400: 'invalid_request_error', 401: 'invalid_request_error', 404: 'invalid_request_error',
    405: 'invalid_request_error', 429: 'requests', 500: 'server_error' };
  return openai.openaiError(status, message, types[status] ?? 'server_error', kind ?? null);
}

function route(req, path, raw, parsed) {
  if (path === '/v1/models') {
    if (req.method !== 'GET') return { ...errorReply('openai', 405, `Method ${req.method} not allowed`), headers: { allow: 'GET' } };
    return req.headers['anthropic-version'] ? anthropic.listModels(openai.MODELS) : openai.listModels();
  }
  const r = ROUTES[path];
  if (!r) return errorReply('openai', 404, `Unknown path ${path}`, 'unknown_url');
  if (req.method !== 'POST') {
    return { ...errorReply(r.provider, 405, `Method ${req.method} not allowed on ${path}`, 'method_not_allowed'), headers: { allow: 'POST' } };
  }
  const auth = req.headers.authorization ?? '';
  const authorized = r.provider === 'anthropic' ? !!req.headers['x-api-key'] || /^Bearer \S/.test(auth) : /^Bearer \S/.test(auth);
  if (!authorized) return errorReply(r.provider, 401, 'Missing API key', 'invalid_api_key');
  if (parsed === undefined) {
    return errorReply(r.provider, 400, 'We could not parse the JSON body of your request.', 'invalid_json');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return errorReply(r.provider, 400, 'The request body must be a JSON object.', 'invalid_body');
  }
  if (parsed.model === 'fake-error-500') return errorReply(r.provider, 500, 'The fake upstream had an error (fake-error-500).');
  if (parsed.model === 'fake-429') {
    return {
      ...errorReply(r.provider, 429, 'Rate limit reached for fake-429.', 'rate_limit_exceeded'),
      headers: { 'retry-after': '1', 'x-ratelimit-remaining-requests': '0' },
    };
  }
  return r.handler(parsed);
}

function encodeFrame(f) {
  const data = typeof f.data === 'string' ? f.data : JSON.stringify(f.data);
  return `${f.event ? `event: ${f.event}\n` : ''}data: ${data}\n\n`;
}

function replyHeaders(reply) {
  const h = {
    'x-request-id': `req_${randomBytes(8).toString('hex')}`,
    'request-id': `req_${randomBytes(8).toString('hex')}`,
    'openai-processing-ms': '1',
    ...(reply.headers ?? {}),
  };
  if (reply.sse) return { ...h, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' };
  return { ...h, 'content-type': 'application/json' };
}

function sendNow(reply, res) {
  if (res.destroyed || res.writableEnded) return;
  if (reply.sse) {
    res.writeHead(reply.status, replyHeaders(reply));
    res.end(reply.sse.map(encodeFrame).join(''));
  } else {
    const body = JSON.stringify(reply.json);
    res.writeHead(reply.status, { ...replyHeaders(reply), 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }
}

function sendTruncated(reply, res) {
  if (reply.sse) {
    res.writeHead(reply.status, replyHeaders(reply));
    const half = reply.sse.slice(0, Math.max(1, Math.floor(reply.sse.length / 2)));
    res.write(half.map(encodeFrame).join(''), () => res.socket?.destroy());
  } else {
    const body = Buffer.from(JSON.stringify(reply.json));
    res.writeHead(reply.status, { ...replyHeaders(reply), 'content-length': body.length });
    res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.socket?.destroy());
  }
}

function holdSlow(reply, res) {
  res.writeHead(reply.status, replyHeaders(reply));
  res.flushHeaders();
  const s = { res, frames: reply.sse, next: 0 };
  state.slow.push(s);
  res.on('close', () => {
    state.slow = state.slow.filter((x) => x !== s);
  });
  notify();
}

function stepSlow(s, count) {
  let sent = 0;
  while (sent < count && s.next < s.frames.length) {
    s.res.write(encodeFrame(s.frames[s.next++]));
    sent++;
  }
  if (s.next >= s.frames.length) {
    s.res.end();
    state.slow = state.slow.filter((x) => x !== s);
  }
  return sent;
}

function releaseAll() {
  const gated = state.gated;
  state.gated = [];
  for (const g of gated) sendNow(g.reply, g.res);
  for (const s of [...state.slow]) stepSlow(s, Infinity);
  notify();
  return gated.length;
}

function deliver(reply, model, res) {
  if (reply.status !== 200) return sendNow(reply, res);
  if (model === 'fake-gated') {
    const g = { reply, res };
    state.gated.push(g);
    res.on('close', () => {
      state.gated = state.gated.filter((x) => x !== g);
      notify();
    });
    return notify();
  }
  if (model === 'fake-truncate') return sendTruncated(reply, res);
  if (model === 'fake-slow-stream' && reply.sse) return holdSlow(reply, res);
  return sendNow(reply, res);
}

function record(req, path, parsed) {
  state.calls[path] = (state.calls[path] ?? 0) + 1;
  state.total++;
  const entry = {
    method: req.method,
    path,
    model: parsed?.model ?? null,
    stream: parsed?.stream === true,
    headers: { ...req.headers },
    body: parsed ?? null,
  };
  state.requests.push(entry);
  if (state.requests.length > LOG_LIMIT) state.requests.shift();
  notify();
}

function json(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function control(req, res, url) {
  const q = (name, dflt) => {
    const v = url.searchParams.get(name);
    return v === null || v === '' ? dflt : Number(v);
  };
  const key = `${req.method} ${url.pathname}`;
  if (key === 'GET /__fake/stats') {
    const last = state.requests.at(-1) ?? null;
    return json(res, 200, {
      calls: state.calls,
      total: state.total,
      last_headers: last?.headers ?? null,
      last_request: last,
      requests: state.requests,
      held: { gated: state.gated.length, slow: state.slow.length },
    });
  }
  if (key === 'POST /__fake/reset') {
    releaseAll();
    knobs.variant = null;
    state.calls = {};
    state.total = 0;
    state.requests = [];
    return json(res, 200, { ok: true });
  }
  if (key === 'POST /__fake/variant') {
    const match = url.searchParams.get('match');
    knobs.variant = match ? { match, suffix: url.searchParams.get('suffix') ?? ' (changed)' } : null;
    return json(res, 200, { variant: knobs.variant });
  }
  if (key === 'POST /__fake/release') {
    const min = q('min', 0);
    await waitFor(() => state.gated.length >= min, req);
    return json(res, 200, { released: releaseAll() });
  }
  if (key === 'GET /__fake/wait') {
    const gated = q('gated', 1);
    await waitFor(() => state.gated.length >= gated, req);
    return json(res, 200, { gated: state.gated.length });
  }
  if (key === 'POST /__fake/step') {
    await waitFor(() => state.slow.length > 0, req);
    const s = state.slow[0];
    const sent = stepSlow(s, q('n', 1));
    return json(res, 200, { sent, remaining: s.frames.length - s.next });
  }
  return json(res, 404, { error: `no control endpoint ${key}` });
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) reject(new Error('body too large'));
      else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, 'http://fake.invalid');
    const raw = await readBody(req);
    if (url.pathname.startsWith('/__fake/')) return await control(req, res, url);
    let parsed;
    if (raw.length > 0) {
      try {
        parsed = JSON.parse(raw.toString('utf8'));
      } catch {
        parsed = undefined;
      }
    } else if (req.method !== 'POST') {
      parsed = null;
    }
    record(req, url.pathname, parsed);
    const reply = route(req, url.pathname, raw, parsed);
    deliver(reply, parsed?.model, res);
  } catch (err) {
    if (!res.headersSent) json(res, 500, { error: { message: String(err?.message ?? err), type: 'fake_internal' } });
    else res.destroy();
  }
});

function argValue(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
if (process.argv.includes('--exit-with-stdin')) {
  // The parent (a test) holds our stdin: when it dies, stdin ends and we exit instead of lingering.
  process.stdin.on('end', shutdown);
  process.stdin.on('error', shutdown);
  process.stdin.resume();
}

server.keepAliveTimeout = 5000;
server.listen(Number(argValue('--port', '0')), '127.0.0.1', () => {
  const { port } = server.address();
  process.stdout.write(`fake upstream listening on 127.0.0.1:${port}\n`);
});
