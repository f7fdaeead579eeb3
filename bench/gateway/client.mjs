#!/usr/bin/env node
// Miss-latency client for bench/gateway/run.sh (Node standard library only). Keep-alive agents; every
// request is the chat completion of bench/gateway/request.json with its last user message made
// unique, so that deja misses and (unless told otherwise) stores it.
//
//   node client.mjs miss --deja PORT --upstream PORT [--n 300] [--warmup 30] [--arms A,B,..] --out FILE
//     Sequential requests, one connection per arm, arms interleaved (their order rotates every
//     round): "direct" calls the upstream, "deja_miss" calls deja (a real miss that is stored),
//     "deja_miss_no_store" calls deja with Cache-Control: no-store. Time = from sending the request
//     to the last byte of the answer. Writes per-arm latency statistics (µs) and the added latency.
//     --arms picks some of the arms (direct is required), e.g. direct,deja_miss_no_store.
import http from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const TEMPLATE = JSON.parse(readFileSync(join(here, 'request.json'), 'utf8'));
const API_KEY = process.env.GW_API_KEY || 'sk-deja-bench';

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

// The template request with its last user message ending in `tag`: a distinct cache key per tag.
function uniqueBody(tag) {
  const body = structuredClone(TEMPLATE);
  const last = body.messages[body.messages.length - 1];
  last.content = `${last.content} (ref ${tag})`;
  return JSON.stringify(body);
}

function post(port, agent, body, extraHeaders = {}) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/v1/chat/completions',
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          authorization: `Bearer ${API_KEY}`,
          ...extraHeaders,
        },
      },
      (res) => {
        let size = 0;
        res.on('data', (c) => {
          size += c.length;
        });
        res.on('end', () => {
          const us = Number(process.hrtime.bigint() - t0) / 1000;
          resolve({ status: res.statusCode, cache: res.headers['x-deja-cache'] ?? null, size, us });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(30000, () => req.destroy(new Error('request timed out after 30 s')));
    req.on('error', reject);
    req.end(body);
  });
}

function quantile(sorted, q) {
  if (sorted.length === 0) return null;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

function stats(values) {
  const s = [...values].sort((a, b) => a - b);
  const r = (x) => (x === null ? null : Math.round(x * 10) / 10);
  return {
    n: s.length,
    min: r(s[0] ?? null),
    p10: r(quantile(s, 0.1)),
    p50: r(quantile(s, 0.5)),
    p90: r(quantile(s, 0.9)),
    p99: r(quantile(s, 0.99)),
    mean: r(s.reduce((a, b) => a + b, 0) / (s.length || 1)),
  };
}

async function miss() {
  const dejaPort = Number(arg('deja'));
  const upstreamPort = Number(arg('upstream'));
  const n = Number(arg('n', '300'));
  const warmup = Number(arg('warmup', '30'));
  const out = arg('out');
  const nonce = `${process.pid}-${Date.now()}`;
  const only = arg('arms', 'direct,deja_miss,deja_miss_no_store').split(',');
  const arms = [
    { name: 'direct', port: upstreamPort, headers: {}, expect: null },
    { name: 'deja_miss', port: dejaPort, headers: {}, expect: 'miss' },
    { name: 'deja_miss_no_store', port: dejaPort, headers: { 'cache-control': 'no-store' }, expect: 'miss' },
  ].filter((a) => only.includes(a.name));
  if (arms[0]?.name !== 'direct') throw new Error('--arms must include direct');
  for (const a of arms) {
    a.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    a.byRound = new Map();  // round -> latency (µs), for the rounds that succeeded
  }
  const problems = [];
  const deadline = Date.now() + 120000;
  for (let i = 0; i < warmup + n; i++) {
    if (Date.now() > deadline) {
      problems.push(`stopped after ${i} rounds: 120 s time limit`);
      break;
    }
    for (let k = 0; k < arms.length; k++) {
      const a = arms[(i + k) % arms.length];  // rotate the order so no arm always goes first
      let r;
      try {
        r = await post(a.port, a.agent, uniqueBody(`${nonce}-${a.name}-${i}`), a.headers);
      } catch (e) {
        problems.push(`${a.name} #${i}: ${e.message}`);
        continue;
      }
      if (r.status !== 200 || (a.expect && r.cache !== a.expect)) {
        problems.push(`${a.name} #${i}: status ${r.status}, X-Deja-Cache ${r.cache}`);
        continue;
      }
      if (i >= warmup) a.byRound.set(i, r.us);
    }
  }
  for (const a of arms) a.agent.destroy();
  const result = { rounds: n, warmup, arms: {}, problems: problems.slice(0, 20), problem_count: problems.length };
  for (const a of arms) result.arms[a.name] = stats([...a.byRound.values()]);
  const direct = result.arms.direct.p50;
  for (const a of arms.slice(1)) {
    // Difference of the medians, and the median of the per-round differences (paired).
    const diffs = [];
    for (const [round, us] of a.byRound) {
      const base = arms[0].byRound.get(round);
      if (base !== undefined) diffs.push(us - base);
    }
    result.arms[a.name].added_p50_us = Math.round((result.arms[a.name].p50 - direct) * 10) / 10;
    result.arms[a.name].added_paired_p50_us = stats(diffs).p50;
  }
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result.arms));
  if (problems.length > 0) {
    console.error(`client.mjs miss: ${problems.length} problems, first: ${problems[0]}`);
    process.exitCode = 1;
  }
}

const mode = process.argv[2];
if (mode === 'miss') await miss();
else {
  console.error('usage: node client.mjs miss ... (see the header of this file)');
  process.exit(2);
}
