// The semantic index follows the store at once, through the binary: entries the store deletes,
// purges, expires (swept every store.sweep_interval_s) or evicts (store.max_size_mb) leave the
// index without another lookup, counted in deja_semantic_index_removals_total{cause}.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { DIRECT, GW, metric, metricUntil, startDeja, startFake } from './helpers.mjs';

const ADMIN = 'e2e-removal-token';

const ENTRIES = 'deja_semantic_index_entries';
const removals = (cause) => `deja_semantic_index_removals_total{cause="${cause}"}`;

const ask = (client, content, headers = {}, system) =>
  client.chat.completions
    .create(
      {
        model: 'fake-model',
        messages: [...(system ? [{ role: 'system', content: system }] : []), { role: 'user', content }],
      },
      { headers },
    )
    .withResponse();

const admin = (url, method, path, body) =>
  fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

describe('semantic index follows store removals', { skip: DIRECT && 'needs the deja gateway (DIRECT=1)' }, () => {
  let fake;
  let deja;
  let client;
  before(async () => {
    fake = await startFake();
    deja = await startDeja({
      upstream: fake.url,
      adminToken: ADMIN,
      args: ['--semantic', '--set', 'semantic.max_false_hit_rate=1', '--set', 'store.sweep_interval_s=1'],
    });
    client = new OpenAI({ apiKey: 'sk-removal', baseURL: `${deja.url}/v1`, maxRetries: 0 });
  });
  after(async () => {
    await deja?.stop();
    await fake?.stop();
  });

  test('a purge and an admin delete drop index entries before the call returns', GW, async () => {
    await ask(client, 'What is the capital city of France?', { 'X-Deja-Namespace': 'doomed' });
    const kept = await ask(client, 'How many legs does a spider have?');
    const n = await metricUntil(deja.url, ENTRIES, (v) => v >= 2);
    const purge = await admin(deja.url, 'POST', '/deja/purge', { namespace: 'doomed' });
    assert.equal(purge.status, 200);
    assert.deepEqual(await purge.json(), { purged: 1 });
    // No lookup in between: the store told the index.
    assert.equal(await metric(deja.url, ENTRIES), n - 1);
    assert.equal(await metric(deja.url, removals('purged')), 1);
    const del = await admin(deja.url, 'DELETE', `/deja/entries/${kept.response.headers.get('x-deja-key')}`);
    assert.equal(del.status, 200);
    assert.equal(await metric(deja.url, ENTRIES), n - 2);
    assert.equal(await metric(deja.url, removals('deleted')), 1);
    assert.equal(await metric(deja.url, 'deja_semantic_stale_removed_total'), 0);
  });

  test('an expired entry leaves the index when the sweep runs', GW, async () => {
    const before = await metric(deja.url, ENTRIES);
    await ask(client, 'Who wrote the novel Moby Dick?', { 'X-Deja-TTL': '1' });
    await metricUntil(deja.url, ENTRIES, (v) => v === before + 1);
    // Expires after 1 s; the sweep runs every second.
    await metricUntil(deja.url, removals('expired'), (v) => v === 1);
    assert.equal(await metric(deja.url, ENTRIES), before);
    const stats = await (await fetch(`${deja.url}/deja/stats`)).json();
    assert.equal(stats.semantic.removed.expired, 1);
    assert.equal(stats.store.expirations, 1);
  });
});

describe('semantic index follows eviction', { skip: DIRECT && 'needs the deja gateway (DIRECT=1)' }, () => {
  let fake;
  let deja;
  before(async () => {
    fake = await startFake();
    // A 1 MiB cap and ~400 kB entries (a long system prompt is stored with each request): the third
    // answer evicts the first.
    deja = await startDeja({
      upstream: fake.url,
      args: ['--semantic', '--set', 'semantic.max_false_hit_rate=1', '--set', 'store.max_size_mb=1'],
    });
  });
  after(async () => {
    await deja?.stop();
    await fake?.stop();
  });

  test('an evicted entry leaves the index in the write that evicted it', GW, async () => {
    const client = new OpenAI({ apiKey: 'sk-evict', baseURL: `${deja.url}/v1`, maxRetries: 0 });
    const system = 'You answer questions about geography and nature. '.repeat(8000);
    await ask(client, 'What is the capital city of France?', {}, system);
    await metricUntil(deja.url, ENTRIES, (v) => v === 1);
    await ask(client, 'How many legs does a spider have?', {}, system);
    await metricUntil(deja.url, ENTRIES, (v) => v === 2);
    assert.equal(await metric(deja.url, removals('evicted')), 0);
    await ask(client, 'Which planet is the largest in our solar system?', {}, system);
    // The third entry is indexed after its store write, which evicted the first and dropped it
    // from the index: two entries, one eviction.
    await metricUntil(deja.url, removals('evicted'), (v) => v === 1);
    await metricUntil(deja.url, ENTRIES, (v) => v === 2);
    const stats = await (await fetch(`${deja.url}/deja/stats`)).json();
    assert.equal(stats.semantic.removed.evicted, 1);
    assert.ok(stats.store.evictions >= 1, JSON.stringify(stats.store));
    // The evicted question is now a miss (not a stale semantic match).
    const again = await ask(client, 'What is the capital city of France?', {}, system);
    assert.equal(again.response.headers.get('x-deja-cache'), 'miss');
  });
});
