// Test mode through the official `openai` SDK: record against the fake upstream into a cassette,
// stop the upstream, replay the same requests from the cassette (streams included), and get the
// not-recorded error naming the differing field for a new request. Also `deja cassette` ls, show,
// diff and prune on the recorded file, and import/export between a data directory and a cassette.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { DEJA_BIN, ECHO, GW, closedPort, collectChat, expectCache, startDeja, startFake } from './helpers.mjs';

const user = (content) => [{ role: 'user', content }];
const PLAIN = { model: 'fake-model', messages: user('hello cassette'), temperature: 0 };
const STREAM = { model: 'fake-model', messages: user('stream cassette'), stream: true, stream_options: { include_usage: true } };
const EMBED = { model: 'text-embedding-3-small', input: 'embed cassette', encoding_format: 'float' };
const UNUSED = { model: 'fake-model', messages: user('recorded but never replayed') };

function cli(...args) {
  const r = spawnSync(DEJA_BIN, ['cassette', ...args], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('test mode: record, then replay with the upstream stopped', () => {
  let dir;
  let cassette;
  let usedLog;
  const recorded = {};
  const client = (deja, apiKey) =>
    new OpenAI({ apiKey, baseURL: `${deja.url}/v1`, organization: null, project: null, maxRetries: 0, timeout: 20_000 });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'deja-e2e-cassette-'));
    cassette = join(dir, 'cassette.json');
    usedLog = join(dir, 'used.log');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('record mode sends every request upstream and writes a reviewable cassette', GW, async () => {
    const fake = await startFake();
    try {
      const deja = await startDeja({ upstream: fake.url, args: ['--mode', 'record', '--cassette', cassette] });
      try {
        const c = client(deja, 'sk-recording-machine-secret');
        const plain = await c.chat.completions.create(PLAIN).withResponse();
        expectCache(plain.response, 'refresh', 'record');
        recorded.plain = plain.data;
        recorded.stream = await collectChat(await c.chat.completions.create(STREAM));
        recorded.embed = await c.embeddings.create(EMBED);
        await c.chat.completions.create(UNUSED);
        // record always goes upstream, even for a repeat.
        recorded.plain = await c.chat.completions.create(PLAIN);
        assert.equal(await fake.count('/v1/chat/completions'), 4);
      } finally {
        assert.equal((await deja.stop()).code, 0, 'deja exits cleanly on SIGTERM');
      }
    } finally {
      await fake.stop();
    }

    const text = await readFile(cassette, 'utf8');
    assert.ok(!text.includes('sk-recording-machine-secret'), 'no API key in the cassette');
    assert.ok(!/authorization|bearer/i.test(text), 'no Authorization header in the cassette');
    const doc = JSON.parse(text);
    assert.equal(doc.deja_cassette, 1);
    assert.equal(doc.records.length, 4, 'one record per distinct request; the repeat replaced the first');
    const keys = doc.records.map((r) => r.key);
    assert.deepEqual(keys, [...keys].sort(), 'records sorted by key');
    assert.ok(text.includes('\n      "request": {\n'), 'pretty-printed, one member per line');
    assert.ok(text.includes(recorded.plain.id), 'the latest answer is the one recorded');
    const streamRecord = doc.records.find((r) => r.response.events);
    assert.ok(streamRecord, 'the stream is recorded as events');
    assert.equal(streamRecord.response.events.at(-1).data_text, '[DONE]');
  });

  test('replay answers from the cassette with the upstream stopped', GW, async () => {
    const down = `http://127.0.0.1:${await closedPort()}`;
    const deja = await startDeja({ upstream: down, args: ['--mode', 'replay', '--cassette', cassette, '--used-log', usedLog] });
    try {
      // Another machine, another API key: cassettes use a shared tenant scope.
      const c = client(deja, 'sk-another-machine');
      const plain = await c.chat.completions.create(PLAIN).withResponse();
      expectCache(plain.response, 'hit', 'replayed chat');
      assert.equal(plain.data.id, recorded.plain.id);
      assert.match(plain.data.choices[0].message.content, ECHO('hello cassette'));

      const stream = await c.chat.completions.create(STREAM).withResponse();
      expectCache(stream.response, 'hit', 'replayed stream');
      assert.match(stream.response.headers.get('content-type'), /^text\/event-stream/);
      const got = await collectChat(stream.data);
      assert.equal(got.id, recorded.stream.id);
      assert.equal(got.texts[0], recorded.stream.texts[0]);
      assert.equal(got.finish[0], 'stop');
      assert.ok(got.usage && got.usage.total_tokens > 0, 'usage replayed');

      // The recorded stream also answers the JSON form of the request, and the JSON answer a stream.
      const assembled = await c.chat.completions.create({ model: STREAM.model, messages: STREAM.messages });
      assert.equal(assembled.choices[0].message.content, recorded.stream.texts[0]);
      const exploded = await collectChat(await c.chat.completions.create({ ...PLAIN, stream: true }));
      assert.equal(exploded.texts[0], recorded.plain.choices[0].message.content);

      const embed = await c.embeddings.create(EMBED);
      assert.deepEqual(embed.data[0].embedding, recorded.embed.data[0].embedding);

      // A request that was not recorded: 404 not_recorded naming the field that differs.
      await assert.rejects(
        c.chat.completions.create({ ...PLAIN, messages: user('hello cassettes') }),
        (err) => {
          assert.equal(err.status, 404);
          assert.equal(err.code, 'not_recorded');
          assert.match(err.message, /\/messages\/0\/content: recorded "hello cassette", this request "hello cassettes"/);
          assert.match(err.message, /key [0-9a-f]{64}/);
          return true;
        },
      );
      // Asking for the upstream is an error in replay, never a call.
      await assert.rejects(
        c.chat.completions.create(PLAIN, { headers: { 'X-Deja-Cache': 'off' } }),
        (err) => err.status === 400 && err.code === 'replay_needs_upstream',
      );
      await assert.rejects(c.models.list(), (err) => err.status === 404);
    } finally {
      assert.equal((await deja.stop()).code, 0);
    }
  });

  test('deja cassette ls, show, diff and prune', GW, async () => {
    const ls = cli('ls', cassette);
    assert.equal(ls.code, 0, ls.err);
    const lines = ls.out.trim().split('\n');
    assert.equal(lines.length, 4);
    assert.match(lines[0], /^[0-9a-f]{64}\t\/v1\/(chat\/completions|embeddings)\t-\t/);

    const key = lines[0].slice(0, 64);
    const show = cli('show', cassette, key.slice(0, 12));
    assert.equal(show.code, 0, show.err);
    assert.equal(JSON.parse(show.out).key, key);

    const copy = join(dir, 'copy.json');
    await copyFile(cassette, copy);
    assert.equal(cli('diff', cassette, copy).code, 0, 'identical cassettes');

    // The replay used three of the four records; prune drops the fourth.
    const used = (await readFile(usedLog, 'utf8')).trim().split('\n');
    assert.equal(used.length, 3);
    const prune = cli('prune', copy, '--used-log', usedLog);
    assert.equal(prune.code, 0, prune.err);
    assert.match(prune.out, /pruned 1 records/);
    assert.match(prune.out, /recorded but never replayed/);
    const diff = cli('diff', cassette, copy);
    assert.equal(diff.code, 1, 'diff exits 1 when the cassettes differ');
    assert.match(diff.out, /^- [0-9a-f]{64}\t\/v1\/chat\/completions/m);
    assert.match(diff.out, /0 added, 1 removed, 0 changed/);
    assert.equal(cli('prune', copy, '--used-log', join(dir, 'missing.log')).code, 2);
  });

  test('import: data directory -> cassette; export: cassette -> data directory', GW, async () => {
    const KEY = 'sk-tenant-import';
    const chat = { model: 'fake-model', messages: user('import me'), temperature: 0 };
    const messages = { model: 'claude-fake', max_tokens: 32, messages: user('import me too') };
    const post = (url, path, body, headers) => fetch(url + path, {
      method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(20_000),
      headers: { 'content-type': 'application/json', ...headers },
    });
    const openaiHeaders = { authorization: `Bearer ${KEY}` };
    const anthropicHeaders = { 'x-api-key': KEY, 'anthropic-version': '2023-06-01' };
    const imported = join(dir, 'imported.json');

    const fake = await startFake();
    try {
      const live = await startDeja({ upstream: fake.url });
      try {
        assert.equal((await post(live.url, '/v1/chat/completions', chat, openaiHeaders)).status, 200);
        assert.equal((await post(live.url, '/v1/messages', messages, anthropicHeaders)).status, 200);
        // Another tenant's entry must not be imported.
        await post(live.url, '/v1/chat/completions', { ...chat, seed: 7 }, { authorization: 'Bearer sk-other' });
        const dataDir = join(live.dataDir, 'data');
        const wrong = cli('import', imported, '--data-dir', dataDir);
        assert.equal(wrong.code, 2, 'import needs --api-key or --shared');
        const r = cli('import', imported, '--data-dir', dataDir, '--api-key', KEY);
        assert.equal(r.code, 0, r.err);
        assert.match(r.out, /imported 2 entries .*skipped 1/);
      } finally {
        await live.stop();
      }
    } finally {
      await fake.stop();
    }
    const doc = JSON.parse(await readFile(imported, 'utf8'));
    assert.equal(doc.records.length, 2);
    assert.deepEqual(doc.records.find((x) => x.route === '/v1/messages').headers, { 'anthropic-version': '2023-06-01' });

    // The imported cassette replays with the upstream down, for any API key.
    const down = `http://127.0.0.1:${await closedPort()}`;
    const replay = await startDeja({ upstream: down, args: ['--mode', 'replay', '--cassette', imported] });
    try {
      const a = await post(replay.url, '/v1/chat/completions', chat, { authorization: 'Bearer sk-ci' });
      assert.equal(a.status, 200);
      assert.equal(a.headers.get('x-deja-cache'), 'hit');
      const m = await post(replay.url, '/v1/messages', messages, { ...anthropicHeaders, 'x-api-key': 'sk-ci' });
      assert.equal(m.headers.get('x-deja-cache'), 'hit');
    } finally {
      await replay.stop();
    }

    // Export into a fresh data directory for another tenant: a live deja there answers from it.
    const exportedDir = join(dir, 'exported-data');
    const ex = cli('export', imported, '--data-dir', exportedDir, '--api-key', 'sk-new-tenant');
    assert.equal(ex.code, 0, ex.err);
    assert.match(ex.out, /exported 2 records/);
    const again = await startDeja({ upstream: down, args: ['--set', `store.data_dir=${exportedDir}`] });
    try {
      const hit = await post(again.url, '/v1/chat/completions', chat, { authorization: 'Bearer sk-new-tenant' });
      assert.equal(hit.headers.get('x-deja-cache'), 'hit');
      const otherTenant = await post(again.url, '/v1/chat/completions', chat, { authorization: 'Bearer sk-someone' });
      assert.equal(otherTenant.status, 502, 'another tenant misses (and the upstream is down)');
    } finally {
      await again.stop();
    }
  });
});
