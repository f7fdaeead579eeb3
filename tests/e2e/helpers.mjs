// Test harness: starts the fake upstream and `deja serve` on free loopback ports, hands out SDK clients
// pointed at deja, and stops everything afterwards (also when a test fails or the runner is killed).
//
//   DEJA_BIN=/path/to/deja   the gateway binary (default: <repo>/build/deja)
//   DIRECT=1                 no gateway: the SDKs talk straight to the fake upstream. Cache assertions
//                            flip to what an uncached upstream does (no X-Deja-* headers, every call
//                            reaches the fake, volatile ids differ); gateway-only tests are skipped.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

export const DIRECT = process.env.DIRECT === '1';
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const DEJA_BIN = process.env.DEJA_BIN || join(REPO, 'build/deja');
const FAKE_SERVER = join(REPO, 'tests/fake_upstream/server.mjs');

export const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;
const HTTP_TIMEOUT_MS = 20_000;
// Per-test bound, passed to every test(): { timeout }.
export const T = { timeout: 30_000 };
// For tests that need the gateway itself.
export const GW = { ...T, skip: DIRECT ? 'needs the deja gateway (DIRECT=1)' : false };

// ---------------------------------------------------------------- processes

const live = new Set();
const tempDirs = new Set();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    for (const child of live) child.kill('SIGKILL');
    process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
  });
}

// Spawns a process and resolves once a stdout line matches `ready`; rejects if it exits first or
// the bounded start deadline passes. Output is kept for diagnostics.
function spawnReady(label, cmd, args, ready) {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  live.add(child);
  const log = [];
  const keep = (line) => {
    log.push(line);
    if (log.length > 200) log.shift();
  };
  createInterface({ input: child.stderr }).on('line', (l) => keep(`[${label} stderr] ${l}`));
  const exited = new Promise((res) => child.once('exit', (code, signal) => {
    live.delete(child);
    res({ code, signal });
  }));
  const started = new Promise((res, rej) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      rej(new Error(`${label} did not print its ready line within ${START_TIMEOUT_MS} ms\n${log.join('\n')}`));
    }, START_TIMEOUT_MS);
    createInterface({ input: child.stdout }).on('line', (line) => {
      keep(`[${label}] ${line}`);
      const m = ready.exec(line);
      if (m) {
        clearTimeout(timer);
        res(m);
      }
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      rej(new Error(`${label} failed to start: ${err.message}`));
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      rej(new Error(`${label} exited (code ${code}, signal ${signal}) before it was ready\n${log.join('\n')}`));
    });
  });
  return { child, started, exited, log };
}

// SIGTERM, then SIGKILL if the process has not exited within the bound. Resolves {code, signal, killed}.
async function stopChild(proc) {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return { ...(await proc.exited), killed: false };
  proc.child.kill('SIGTERM');
  let timer;
  const late = new Promise((res) => {
    timer = setTimeout(() => res('late'), STOP_TIMEOUT_MS);
  });
  const first = await Promise.race([proc.exited, late]);
  clearTimeout(timer);
  if (first !== 'late') return { ...first, killed: false };
  proc.child.kill('SIGKILL');
  return { ...(await proc.exited), killed: true };
}

// A loopback port with nothing listening on it (for "upstream down" tests).
export async function closedPort() {
  const srv = net.createServer();
  await new Promise((res) => srv.listen(0, '127.0.0.1', res));
  const { port } = srv.address();
  await new Promise((res) => srv.close(res));
  return port;
}

// ---------------------------------------------------------------- fake upstream

export async function startFake() {
  const proc = spawnReady('fake', process.execPath, [FAKE_SERVER, '--exit-with-stdin'],
    /^fake upstream listening on 127\.0\.0\.1:(\d+)$/);
  const m = await proc.started;
  const url = `http://127.0.0.1:${m[1]}`;
  const call = async (method, path) => {
    const r = await fetch(url + path, { method, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
    assert.equal(r.status, 200, `fake ${method} ${path}`);
    return r.json();
  };
  return {
    url,
    proc,
    stats: () => call('GET', '/__fake/stats'),
    reset: () => call('POST', '/__fake/reset'),
    // Waits until >= min gated requests are held, then releases every held request.
    release: (min = 0) => call('POST', `/__fake/release?min=${min}`),
    waitGated: (n = 1) => call('GET', `/__fake/wait?gated=${n}`),
    // Waits for a held slow stream, then sends its next n frames.
    step: (n = 1) => call('POST', `/__fake/step?n=${n}`),
    count: async (path) => (await call('GET', '/__fake/stats')).calls[path] ?? 0,
    stop: () => stopChild(proc),
  };
}

// ---------------------------------------------------------------- deja

export async function startDeja({ upstream, anthropicUpstream = upstream, adminToken, config, args = [] }) {
  if (!existsSync(DEJA_BIN)) {
    throw new Error(`deja binary not found at ${DEJA_BIN}: build it (make build) or set DEJA_BIN, or run with DIRECT=1`);
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'deja-e2e-'));
  tempDirs.add(dataDir);
  await mkdir(join(dataDir, 'data'));
  const argv = ['serve', '--listen', '127.0.0.1:0', '--upstream', upstream, '--anthropic-upstream', anthropicUpstream,
    '--data-dir', join(dataDir, 'data')];
  if (adminToken) argv.push('--admin-token', adminToken);
  if (config) {
    const file = join(dataDir, 'deja.toml');
    await writeFile(file, config);
    argv.push('--config', file);
  }
  const proc = spawnReady('deja', DEJA_BIN, [...argv, ...args], /^deja listening on 127\.0\.0\.1:(\d+)$/);
  let m;
  try {
    m = await proc.started;
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    tempDirs.delete(dataDir);
    throw err;
  }
  return {
    url: `http://127.0.0.1:${m[1]}`,
    proc,
    dataDir,
    adminToken,
    async stop() {
      const result = await stopChild(proc);
      await rm(dataDir, { recursive: true, force: true });
      tempDirs.delete(dataDir);
      if (result.code !== 0 || result.killed) {
        process.stderr.write(`deja exited with code ${result.code}, signal ${result.signal}` +
          `${result.killed ? ' (killed after the stop deadline)' : ''}; its last output:\n${proc.log.join('\n')}\n`);
      }
      return result;
    },
  };
}

// ---------------------------------------------------------------- the stack

export async function startStack({ adminToken = 'e2e-admin-token' } = {}) {
  const fake = await startFake();
  let deja = null;
  try {
    if (!DIRECT) deja = await startDeja({ upstream: fake.url, adminToken });
  } catch (err) {
    await fake.stop();
    throw err;
  }
  const url = deja ? deja.url : fake.url;
  return {
    fake,
    deja,
    url,
    adminToken,
    openai: ({ apiKey = 'sk-test-tenant-a', headers } = {}) =>
      new OpenAI({ apiKey, baseURL: `${url}/v1`, organization: null, project: null, maxRetries: 0,
        timeout: HTTP_TIMEOUT_MS, defaultHeaders: headers }),
    // auth 'x-api-key' (Anthropic's documented header, the default here) or 'bearer' (what this SDK
    // version sends by itself: Authorization: Bearer <apiKey>).
    anthropic: ({ apiKey = 'sk-ant-test-tenant-a', headers, auth = 'x-api-key' } = {}) =>
      new Anthropic({ apiKey, baseURL: url, maxRetries: 0, timeout: HTTP_TIMEOUT_MS,
        defaultHeaders: auth === 'x-api-key' ? { 'x-api-key': apiKey, authorization: null, ...headers } : headers }),
    // Raw HTTP to the gateway (or the fake in DIRECT mode), bounded in time.
    fetch: (path, init = {}) => fetch(url + path, { ...init, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) }),
    async stop() {
      const out = {};
      // Let requests a failed test left held at the fake finish, so deja can drain and exit.
      await fake.reset().catch(() => {});
      if (deja) out.deja = await deja.stop();
      out.fake = await fake.stop();
      return out;
    },
  };
}

// ---------------------------------------------------------------- assertions

// Picks the expectation for the mode: through deja, or straight to the fake upstream.
export const viaDeja = (dejaValue, directValue) => (DIRECT ? directValue : dejaValue);

// Asserts X-Deja-Cache (and, on hits, X-Deja-Key and Age). In DIRECT mode: no X-Deja-* headers at all.
export function expectCache(response, expected, what = '') {
  const got = response.headers.get('x-deja-cache');
  if (DIRECT) {
    assert.equal(got, null, `${what}: the fake upstream must not send X-Deja-Cache`);
    return;
  }
  const allowed = Array.isArray(expected) ? expected : [expected];
  assert.ok(allowed.includes(got), `${what}: X-Deja-Cache is ${got}, expected ${allowed.join(' or ')}`);
  if (got === 'hit') {
    assert.match(response.headers.get('x-deja-key') ?? '', /^[0-9a-f]{64}$/, `${what}: X-Deja-Key on a hit`);
    assert.match(response.headers.get('age') ?? '', /^\d+$/, `${what}: Age on a hit`);
  }
}

// Same answer (served from cache) through deja; a fresh answer (new volatile id) straight from the fake.
export function expectSameAnswer(first, second, what = 'id') {
  if (DIRECT) assert.notEqual(second, first, `${what}: the fake upstream must mint a new one per call`);
  else assert.equal(second, first, `${what}: a hit must replay the stored answer`);
}

// ---------------------------------------------------------------- stream accumulators

// Chat completion chunks -> {id, texts[i], finish[i], tools[i], usage, chunks}.
export async function collectChat(stream) {
  const out = { id: null, texts: [], finish: [], tools: [], usage: null, chunks: 0 };
  for await (const chunk of stream) {
    out.chunks++;
    out.id ??= chunk.id;
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) out.usage = chunk.usage;
    for (const c of chunk.choices) {
      out.texts[c.index] = (out.texts[c.index] ?? '') + (c.delta?.content ?? '');
      if (c.finish_reason) out.finish[c.index] = c.finish_reason;
      for (const tc of c.delta?.tool_calls ?? []) {
        const list = (out.tools[c.index] ??= []);
        const slot = (list[tc.index] ??= { id: null, name: '', arguments: '' });
        if (tc.id) slot.id = tc.id;
        if (tc.function?.name) slot.name += tc.function.name;
        if (tc.function?.arguments) slot.arguments += tc.function.arguments;
      }
    }
  }
  return out;
}

// Anthropic raw stream events -> {id, types[], text, toolUse, stopReason}.
export async function collectAnthropic(stream) {
  const out = { id: null, types: [], text: '', toolJson: '', toolUse: null, stopReason: null };
  for await (const ev of stream) {
    out.types.push(ev.type);
    if (ev.type === 'message_start') out.id = ev.message.id;
    if (ev.type === 'content_block_start' && ev.content_block.type === 'tool_use') out.toolUse = { ...ev.content_block };
    if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') out.text += ev.delta.text;
    if (ev.type === 'content_block_delta' && ev.delta.type === 'input_json_delta') out.toolJson += ev.delta.partial_json;
    if (ev.type === 'message_delta') out.stopReason = ev.delta.stop_reason;
  }
  if (out.toolUse) out.toolUse.input = JSON.parse(out.toolJson);
  return out;
}

// The fake's deterministic answer text format.
export const ECHO = (text) => new RegExp(`^echo: ${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\[[0-9a-f]{8}\\]$`);

// Runs the deja CLI; resolves {code, stdout, stderr} and never rejects on a non-zero exit.
export function runDeja(args, { env = {}, timeout = 60_000 } = {}) {
  return new Promise((resolve) => {
    execFile(DEJA_BIN, args, { env: { ...process.env, ...env }, timeout, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr }));
  });
}

// One Prometheus sample from GET /metrics (`line` is the name with its labels, e.g.
// 'deja_semantic_verifications_total{result="wrong"}'); undefined when absent.
export async function metric(url, line) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = text.match(new RegExp(`^${line.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm'));
  return m ? Number(m[1]) : undefined;
}

// Polls (bounded) until a metric satisfies `ok`: work that follows an answer (storing, indexing,
// recording a verification) may finish just after the client has the answer. Returns the value.
export async function metricUntil(url, line, ok, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await metric(url, line);
    if (ok(v)) return v;
    assert.ok(Date.now() < deadline, `${line} = ${v} did not reach the expected value in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// Until the semantic index holds at least n entries.
export const indexed = (url, n, ms = 5000) =>
  metricUntil(url, 'deja_semantic_index_entries', (v) => v >= n, ms);
