// Shadow mode through the binary: every request reaches the provider and the client gets its
// answer; GET /deja/shadow and <data_dir>/shadow-report.json report what the cache would have done.
// Also `deja analyze` on a trace file.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { DEJA_BIN, DIRECT, GW, collectChat, startDeja, startFake } from './helpers.mjs';

const PATH = '/v1/chat/completions';

describe('shadow mode', { skip: DIRECT && 'needs the deja gateway (DIRECT=1)' }, () => {
  let fake;
  let deja;
  let client;
  before(async () => {
    fake = await startFake();
    deja = await startDeja({
      upstream: fake.url,
      args: ['--mode', 'shadow', '--set', 'server.shadow_report_interval_s=1'],
      config: '[prices."fake-model"]\ninput = 1000000\noutput = 0\n',
    });
    client = new OpenAI({ apiKey: 'sk-shadow', baseURL: `${deja.url}/v1`, maxRetries: 0 });
  });
  after(async () => {
    await deja?.stop();
    await fake?.stop();
  });

  test('serves only upstream answers and reports would-be hits, streams included', GW, async () => {
    const body = { model: 'fake-model', temperature: 0, messages: [{ role: 'user', content: 'shadow me' }] };
    const first = await client.chat.completions.create(body).withResponse();
    const second = await client.chat.completions.create(body).withResponse();
    assert.equal(first.response.headers.get('x-deja-cache'), 'shadow-miss');
    assert.equal(second.response.headers.get('x-deja-cache'), 'shadow-hit');
    // Both answers come from the provider: its volatile ids differ.
    assert.notEqual(second.data.id, first.data.id);
    assert.equal(second.data.choices[0].message.content, first.data.choices[0].message.content);
    const streamed = await collectChat(await client.chat.completions.create({ ...body, stream: true }));
    assert.equal(streamed.texts[0], first.data.choices[0].message.content);
    assert.notEqual(streamed.id, first.data.id);
    assert.equal(await fake.count(PATH), 3);

    const r = await fetch(`${deja.url}/deja/shadow`);
    assert.equal(r.status, 200);
    const report = await r.json();
    assert.equal(report.requests, 3);
    assert.equal(report.would_be_hits.exact, 2);
    assert.equal(report.would_be_hits.semantic, 0);
    assert.equal(report.false_hits.exact, 0);
    assert.equal(report.savings.requests, 2);
    assert.ok(report.savings.input_tokens > 0);
    assert.equal(report.savings.dollars, report.savings.input_tokens);  // $1 per input token
    assert.equal(report.deterministic.requests, 3);
    assert.ok(report.caveats.some((c) => /lower bound/.test(c)));
  });

  test('writes the report into the data directory every interval', GW, async () => {
    // Bounded poll for the periodic write (interval 1 s) to catch up with the three requests.
    const file = join(deja.dataDir, 'data', 'shadow-report.json');
    const deadline = Date.now() + 10_000;
    for (;;) {
      const saved = await readFile(file, 'utf8').then(JSON.parse, () => null);
      if (saved?.requests === 3) break;
      assert.ok(Date.now() < deadline, `no periodic report with 3 requests in ${file}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  test('writes the report into the data directory on shutdown', GW, async () => {
    deja.proc.child.kill('SIGTERM');
    const { code } = await deja.proc.exited;
    assert.equal(code, 0);
    const saved = JSON.parse(await readFile(join(deja.dataDir, 'data', 'shadow-report.json'), 'utf8'));
    assert.equal(saved.requests, 3);
    assert.equal(saved.would_be_hits.exact, 2);
  });
});

describe('deja analyze', { skip: DIRECT && 'needs the deja binary (DIRECT=1)' }, () => {
  let dir;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'deja-e2e-analyze-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const chatAnswer = (id, text) => ({
    id, object: 'chat.completion', created: 1, model: 'gpt-x',
    choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
  });
  const ask = (content, temperature = 0) => ({ model: 'gpt-x', temperature, messages: [{ role: 'user', content }] });

  test('computes would-be hits, false hits and savings from a trace', GW, async () => {
    const lines = [
      { request: ask('capital of France?'), response: chatAnswer('a1', 'Paris'), latency_ms: 800 },
      { request: { ...ask('capital of France?'), user: 'someone-else' }, response: chatAnswer('a2', 'Paris'), latency_ms: 700 },
      { request: ask('tell a joke', 1), response: chatAnswer('b1', 'joke one') },
      { request: ask('tell a joke', 1), response: chatAnswer('b2', 'joke two') },
      { request: ask('capital of France?'), response: chatAnswer('a3', 'Paris'), tenant: 'other-team' },
    ];
    const trace = join(dir, 'trace.jsonl');
    await writeFile(trace, lines.map((l) => JSON.stringify(l)).join('\n') + '\nnot json\n');
    const out = spawnSync(DEJA_BIN, ['analyze', trace, '--set', 'cache.default_ttl_s=0'], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(out.status, 0, out.stderr);
    const report = JSON.parse(out.stdout);
    assert.equal(report.requests, 5);
    assert.equal(report.would_be_hits.exact, 2);  // the other tenant's repeat is not a hit
    assert.equal(report.false_hits.exact, 1);     // the second joke differs
    assert.equal(report.savings.requests, 1);
    assert.equal(report.savings.input_tokens, 10);
    assert.equal(report.savings.upstream_latency_ms, 700);
    assert.equal(report.deterministic.false_hits.exact, 0);
    assert.equal(report.nondeterministic.false_hits.exact, 1);
    assert.equal(report.skipped_lines, 1);
    assert.match(out.stderr, /trace\.jsonl:6: /);

    const strict = spawnSync(DEJA_BIN, ['analyze', '--strict', trace], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(strict.status, 1);
  });
});
