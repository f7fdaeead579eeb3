// The semantic cache through the binary: `deja serve --semantic` with the built-in default embedder
// (lexical), the real openai SDK and the fake upstream.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { DIRECT, GW, closedPort, collectChat, expectCache, indexed, metric, metricUntil, startDeja, startFake } from './helpers.mjs';

const PATH = '/v1/chat/completions';
const QUESTION = 'What is the capital city of France?';
const REWORDED = 'Tell me the capital city of France';

const ask = (client, content, extra = {}, headers = {}) =>
  client.chat.completions
    .create({ model: 'fake-model', messages: [{ role: 'user', content }], ...extra }, { headers })
    .withResponse();

const conversation = (person, question) => ({
  model: 'fake-model',
  messages: [
    { role: 'user', content: `Tell me about ${person}` },
    { role: 'assistant', content: 'Sure.' },
    { role: 'user', content: question },
  ],
});

// Waits (bounded) until a metric reaches at least n.
const metricReaches = (url, line, n) => metricUntil(url, line, (v) => v >= n);

describe('semantic cache', { skip: DIRECT && 'needs the deja gateway (DIRECT=1)' }, () => {
  let fake;
  let deja;
  let client;
  let dataDir;
  before(async () => {
    fake = await startFake();
    dataDir = await mkdtemp(join(tmpdir(), 'deja-e2e-semantic-'));
    // max_false_hit_rate = 1: serve every match (the fake echoes each wording, so verification
    // would rightly call every rewording's answer different; the verification test below runs a
    // second gateway with the default bound).
    deja = await startDeja({
      upstream: fake.url,
      args: ['--semantic', '--set', `store.data_dir=${dataDir}`, '--set', 'semantic.max_false_hit_rate=1'],
    });
    client = new OpenAI({ apiKey: 'sk-semantic-a', baseURL: `${deja.url}/v1`, maxRetries: 0 });
  });
  after(async () => {
    await deja?.stop();
    await fake?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  test('a reworded question is a semantic hit with its headers', GW, async () => {
    const first = await ask(client, QUESTION);
    assert.equal(first.response.headers.get('x-deja-cache'), 'miss');
    await indexed(deja.url, 1);
    const before = await fake.count(PATH);
    const second = await ask(client, REWORDED);
    assert.equal(second.response.headers.get('x-deja-cache'), 'semantic-hit');
    assert.equal(second.response.headers.get('x-deja-matched-key'), first.response.headers.get('x-deja-key'));
    assert.match(second.response.headers.get('x-deja-similarity'), /^0\.\d{3}$/);
    assert.equal(second.data.choices[0].message.content, first.data.choices[0].message.content);
    assert.equal(await fake.count(PATH), before);
    // Stricter per-request threshold: a miss.
    const strict = await ask(client, 'Please tell me the capital city of France', {}, { 'X-Deja-Similarity': '0.999' });
    assert.equal(strict.response.headers.get('x-deja-cache'), 'miss');
  });

  test('a streaming client gets a semantic hit as a stream', GW, async () => {
    const n = await metric(deja.url, 'deja_semantic_index_entries');
    await ask(client, 'How many legs does a spider have?');
    await indexed(deja.url, n + 1);
    const before = await fake.count(PATH);
    const stream = await client.chat.completions
      .create({ model: 'fake-model', stream: true, messages: [{ role: 'user', content: 'A spider has how many legs?' }] })
      .withResponse();
    assert.equal(stream.response.headers.get('x-deja-cache'), 'semantic-hit');
    const got = await collectChat(stream.data);
    assert.match(got.texts[0], /How many legs does a spider have\?/);
    assert.equal(await fake.count(PATH), before);
  });

  test('the same question in another conversation, or from another tenant, is a miss', GW, async () => {
    const n = await metric(deja.url, 'deja_semantic_index_entries');
    await client.chat.completions.create(conversation('Barack Obama', 'How old is he?'));
    await indexed(deja.url, n + 1);
    const other = await client.chat.completions.create(conversation('Joe Biden', 'How old is he?')).withResponse();
    assert.equal(other.response.headers.get('x-deja-cache'), 'miss');
    const tenantB = new OpenAI({ apiKey: 'sk-semantic-b', baseURL: `${deja.url}/v1`, maxRetries: 0 });
    const b = await ask(tenantB, REWORDED);
    assert.equal(b.response.headers.get('x-deja-cache'), 'miss');
    // Numbers must agree.
    const m = await metric(deja.url, 'deja_semantic_index_entries');
    await ask(client, 'What is 12 times 12?');
    await indexed(deja.url, m + 1);
    const sum = await ask(client, 'What is 12 times 13?', {}, { 'X-Deja-Similarity': '0.1' });
    assert.equal(sum.response.headers.get('x-deja-cache'), 'miss');
  });

  test('/metrics and /deja/stats count semantic hits and index entries', GW, async () => {
    assert.ok((await metric(deja.url, 'deja_semantic_hits_total')) >= 2);
    assert.ok((await metric(deja.url, 'deja_semantic_index_entries')) >= 3);
    assert.equal(await metric(deja.url, 'deja_semantic_verifications_total{result="wrong"}'), 0);
    const stats = await (await fetch(`${deja.url}/deja/stats`)).json();
    assert.ok(stats.semantic.hits >= 2);
    assert.equal(stats.semantic.observed_false_hit_rate, 0);
  });

  test('a restart keeps the index', GW, async () => {
    const entries = await metric(deja.url, 'deja_semantic_index_entries');
    await deja.stop();
    deja = await startDeja({ upstream: fake.url, args: ['--semantic', '--set', `store.data_dir=${dataDir}`, '--set', 'semantic.max_false_hit_rate=1'] });
    client = new OpenAI({ apiKey: 'sk-semantic-a', baseURL: `${deja.url}/v1`, maxRetries: 0 });
    assert.ok(deja.proc.log.some((l) => /semantic index loaded/.test(l)), deja.proc.log.join('\n'));
    // Nothing is lost (admissions still running when `entries` was read may add to it).
    assert.ok((await metric(deja.url, 'deja_semantic_index_entries')) >= entries);
    const before = await fake.count(PATH);
    const r = await ask(client, 'WHAT is the capital city of France??');
    assert.equal(r.response.headers.get('x-deja-cache'), 'semantic-hit');
    assert.equal(await fake.count(PATH), before);
  });

  test('with the default false-hit bound, new entries are verified upstream first', GW, async () => {
    // The config file turns it on too; every other setting at its default.
    const gw = await startDeja({ upstream: fake.url, config: '[semantic]\nenabled = true\nseed = 3\n' });
    try {
      const c = new OpenAI({ apiKey: 'sk-semantic-v', baseURL: `${gw.url}/v1`, maxRetries: 0 });
      await ask(c, QUESTION);
      await indexed(gw.url, 1);
      const outcomes = [];
      for (let i = 0; i < 5; i++) {
        const r = await ask(c, REWORDED, {}, { 'Cache-Control': 'no-store' });
        outcomes.push(r.response.headers.get('x-deja-cache'));
      }
      const verified = outcomes.filter((o) => o === 'semantic-verify').length;
      assert.ok(verified >= 3, outcomes.join(','));
      // The fake echoes the wording, so the answers differ: each verification counts as wrong.
      // A verification is recorded once the fresh answer is complete, which may be just after the
      // client has it: wait (bounded) for the count, then check it is exact.
      await metricReaches(gw.url, 'deja_semantic_verifications_total{result="wrong"}', verified);
      assert.equal(await metric(gw.url, 'deja_semantic_verifications_total{result="wrong"}'), verified);
      assert.equal(await metric(gw.url, 'deja_semantic_explorations_total'), verified);
    } finally {
      await gw.stop();
    }
  });

  test('a remote embedder is used, and when it is down requests fail open to exact-only', GW, async () => {
    const down = await closedPort();
    const remote = (url) => ['--semantic', '--set', 'semantic.embedder=remote', '--set', `semantic.remote_url=${url}`,
      '--set', 'semantic.remote_model=fake-embed', '--set', 'semantic.max_false_hit_rate=1'];
    // deja sends the key named by semantic.remote_api_key_env (the fake insists on one).
    const savedKey = process.env.OPENAI_API_KEY;
    process.env.OPENAI_API_KEY = 'sk-embeddings';
    const gw = await startDeja({ upstream: fake.url, args: remote(fake.url) }).finally(() => {
      if (savedKey === undefined) delete process.env.OPENAI_API_KEY;
      else process.env.OPENAI_API_KEY = savedKey;
    });
    try {
      const c = new OpenAI({ apiKey: 'sk-semantic-r', baseURL: `${gw.url}/v1`, maxRetries: 0 });
      const before = await fake.count('/v1/embeddings');
      await ask(c, 'Which river flows through Vienna?');
      await indexed(gw.url, 1);
      assert.ok((await fake.count('/v1/embeddings')) > before, 'deja asked the remote endpoint for embeddings');
    } finally {
      await gw.stop();
    }
    const broken = await startDeja({ upstream: fake.url, args: [...remote(`http://127.0.0.1:${down}`),
      '--set', 'semantic.remote_timeout_ms=2000'] });
    try {
      const c = new OpenAI({ apiKey: 'sk-semantic-r', baseURL: `${broken.url}/v1`, maxRetries: 0 });
      const first = await ask(c, 'Which river flows through Budapest?');
      expectCache(first.response, 'miss', 'embedder down: an exact-only miss');
      const again = await ask(c, 'Which river flows through Budapest?');
      assert.equal(again.response.headers.get('x-deja-cache'), 'hit');  // the exact tier still works
      assert.ok((await metric(broken.url, 'deja_errors_total{kind="embedder"}')) >= 1);
    } finally {
      await broken.stop();
    }
  });
});
