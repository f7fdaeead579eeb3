#!/usr/bin/env node
// Sends every request of a JSON Lines file (gen_requests.py) to a server over a few keep-alive
// connections and writes what it measured as JSON. For bench/replay/run.sh; no dependencies.
//
//   node client.mjs --port P --requests FILE --out OUT.json [--concurrency 4]
//        [--nginx]            POST /r/<i> instead of the request's path (nginx's static files)
//        [--save-dir DIR]     write each response body to DIR/<i> (the nginx reference's files)
//        [--expect-cache V]   count answers whose X-Deja-Cache differs from V as failures
//        [--expect-bodies DIR] compare each body with DIR/<i>; a difference is a failure
//
// Latency = from just before the request is written until the last byte of the answer has been
// read (a stream is read to its end), in microseconds, per request in file order. The requests are
// taken in file order by `concurrency` workers, one connection each (http.Agent, keepAlive).
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    requests: { type: 'string' },
    out: { type: 'string' },
    concurrency: { type: 'string', default: '4' },
    nginx: { type: 'boolean', default: false },
    'save-dir': { type: 'string' },
    'expect-cache': { type: 'string' },
    'expect-bodies': { type: 'string' },
  },
});
const port = Number(args.port);
const concurrency = Number(args.concurrency);
const requests = fs.readFileSync(args.requests, 'utf8').split('\n').filter((l) => l.length > 0)
  .map((l) => {
    const r = JSON.parse(l);
    const body = Buffer.from(JSON.stringify(r.body));
    return { path: r.path, headers: { ...r.headers, 'content-length': String(body.length) }, body };
  });
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });

function send(i) {
  const r = requests[i];
  const reqPath = args.nginx ? `/r/${i}` : r.path;
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: reqPath, headers: r.headers, agent },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const us = Number(process.hrtime.bigint() - t0) / 1000;
          resolve({ status: res.statusCode, cache: res.headers['x-deja-cache'] ?? '', body: Buffer.concat(chunks), us });
        });
        res.on('error', (e) => resolve({ status: 0, error: String(e), us: 0 }));
      });
    req.on('error', (e) => resolve({ status: 0, error: String(e), us: 0 }));
    req.end(r.body);
  });
}

const latencies = new Array(requests.length).fill(null);
const failures = [];
let bytes = 0;
let next = 0;
if (args['save-dir']) fs.mkdirSync(args['save-dir'], { recursive: true });

async function worker() {
  for (;;) {
    const i = next++;
    if (i >= requests.length) return;
    const a = await send(i);
    let problem = a.error ?? (a.status !== 200 ? `status ${a.status}` : null);
    if (!problem && args['expect-cache'] && a.cache !== args['expect-cache']) problem = `X-Deja-Cache ${a.cache}`;
    if (!problem && args['expect-bodies']) {
      const want = fs.readFileSync(path.join(args['expect-bodies'], String(i)));
      if (!want.equals(a.body)) problem = `body differs (${a.body.length} vs ${want.length} bytes)`;
    }
    if (problem) {
      if (failures.length < 20) failures.push({ index: i, problem, body: a.body?.toString('utf8', 0, 300) });
      else failures.push({ index: i, problem });
      continue;
    }
    latencies[i] = a.us;
    bytes += a.body.length;
    if (args['save-dir']) fs.writeFileSync(path.join(args['save-dir'], String(i)), a.body);
  }
}

const t0 = process.hrtime.bigint();
await Promise.all(Array.from({ length: concurrency }, worker));
const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
agent.destroy();
fs.writeFileSync(args.out, JSON.stringify({
  requests: requests.length,
  ok: latencies.filter((x) => x !== null).length,
  failures: failures.length,
  failure_examples: failures.slice(0, 5),
  concurrency,
  wall_ms: wallMs,
  response_bytes: bytes,
  latency_us: latencies,
}));
console.log(`${requests.length} requests, ${failures.length} failures, ${wallMs.toFixed(1)} ms, ${bytes} response bytes`);
if (failures.length > 0) {
  console.error(`client.mjs: ${failures.length} failures, first: ${JSON.stringify(failures[0]).slice(0, 400)}`);
  process.exitCode = 1;
}
