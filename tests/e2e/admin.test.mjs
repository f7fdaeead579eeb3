// Proxied routes, health, metrics, stats, admin purge/delete, graceful shutdown.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { GW, T, expectCache, startDeja, startStack } from './helpers.mjs';

const PATH = '/v1/chat/completions';
const chat = (content) => ({ model: 'fake-model', messages: [{ role: 'user', content }] });

// Prometheus text -> [{name, labels, value}] (comment lines skipped).
function parseMetrics(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    assert.ok(m, `not a Prometheus sample line: ${line}`);
    samples.push({ name: m[1], labels: m[2] ?? '', value: Number(m[3]) });
  }
  return samples;
}

describe('proxying and the admin surface', () => {
  let s;
  before(async () => {
    s = await startStack({ adminToken: 'admin-secret-e2e' });
  });
  after(async () => {
    await s?.stop();
  });
  beforeEach(async () => {
    await s.fake.reset();
  });

  const ask = (body, headers) => s.openai().chat.completions.create(body, { headers }).withResponse();
  const admin = (path, { method = 'POST', token = s.adminToken, body } = {}) =>
    s.fetch(path, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const refused = (status) => assert.ok(status === 401 || status === 403, `expected 401/403, got ${status}`);

  test('GET /v1/models is proxied unchanged and never cached', T, async () => {
    const client = s.openai();
    const a = await client.models.list().withResponse();
    assert.ok(a.data.data.some((m) => m.id === 'fake-model'));
    assert.notEqual(a.response.headers.get('x-deja-cache'), 'hit');
    const b = await client.models.list().withResponse();
    assert.notEqual(b.response.headers.get('x-deja-cache'), 'hit');
    assert.deepEqual(b.data.data.map((m) => m.id), a.data.data.map((m) => m.id));
    assert.equal(await s.fake.count('/v1/models'), 2, 'both calls reached upstream');
  });

  test('GET /healthz -> 200', GW, async () => {
    const r = await s.fetch('/healthz');
    assert.equal(r.status, 200);
    await r.body?.cancel();
    assert.equal((await s.fake.stats()).total, 0, 'health is answered locally');
  });

  test('GET /metrics exposes hit and miss counters', GW, async () => {
    const body = chat('count me in metrics');
    expectCache((await ask(body)).response, 'miss');
    expectCache((await ask(body)).response, 'hit');
    const r = await s.fetch('/metrics');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
    const samples = parseMetrics(await r.text());
    const find = (word) => samples.filter((x) => `${x.name}${x.labels}`.includes(word) && x.value >= 1);
    assert.ok(find('hit').length > 0, 'a hit counter >= 1');
    assert.ok(find('miss').length > 0, 'a miss counter >= 1');
  });

  test('GET /deja/stats -> JSON', GW, async () => {
    const r = await s.fetch('/deja/stats', { headers: { authorization: `Bearer ${s.adminToken}` } });
    assert.equal(r.status, 200);
    const stats = await r.json();
    assert.equal(typeof stats, 'object');
    assert.ok(stats !== null && !Array.isArray(stats));
  });

  test('POST /deja/purge requires the admin token; {"all":true} empties the cache', GW, async () => {
    const body = chat('purge everything');
    expectCache((await ask(body)).response, 'miss');
    refused((await admin('/deja/purge', { token: null, body: { all: true } })).status);
    refused((await admin('/deja/purge', { token: 'wrong-token', body: { all: true } })).status);
    expectCache((await ask(body)).response, 'hit', 'a refused purge removed nothing');
    const ok = await admin('/deja/purge', { body: { all: true } });
    assert.ok(ok.status >= 200 && ok.status < 300, `purge status ${ok.status}`);
    await ok.body?.cancel();
    expectCache((await ask(body)).response, 'miss', 'purged');
    assert.equal(await s.fake.count('/deja/purge'), 0, 'admin calls are not proxied');
    assert.equal(await s.fake.count(PATH), 2);
  });

  test('POST /deja/purge {"namespace"} removes only that namespace', GW, async () => {
    const body = chat('purge one namespace');
    await ask(body, { 'X-Deja-Namespace': 'purge-me' });
    await ask(body, { 'X-Deja-Namespace': 'keep-me' });
    const r = await admin('/deja/purge', { body: { namespace: 'purge-me' } });
    assert.ok(r.status >= 200 && r.status < 300, `purge status ${r.status}`);
    await r.body?.cancel();
    expectCache((await ask(body, { 'X-Deja-Namespace': 'keep-me' })).response, 'hit', 'other namespace kept');
    expectCache((await ask(body, { 'X-Deja-Namespace': 'purge-me' })).response, 'miss', 'namespace purged');
    assert.equal(await s.fake.count(PATH), 3);
  });

  test('DELETE /deja/entries/{key} requires the admin token and removes one entry', GW, async () => {
    const body = chat('delete just me');
    const other = chat('but not me');
    await ask(body);
    await ask(other);
    const hit = await ask(body);
    expectCache(hit.response, 'hit');
    const key = hit.response.headers.get('x-deja-key');
    refused((await admin(`/deja/entries/${key}`, { method: 'DELETE', token: null })).status);
    expectCache((await ask(body)).response, 'hit', 'refused delete removed nothing');
    const del = await admin(`/deja/entries/${key}`, { method: 'DELETE' });
    assert.ok(del.status >= 200 && del.status < 300, `delete status ${del.status}`);
    await del.body?.cancel();
    expectCache((await ask(body)).response, 'miss', 'deleted entry');
    expectCache((await ask(other)).response, 'hit', 'other entry kept');
    assert.equal(await s.fake.count(PATH), 3);
  });

  test('SIGTERM stops deja gracefully with exit code 0', GW, async () => {
    const d = await startDeja({ upstream: s.fake.url, adminToken: 't' });
    const r = await fetch(`${d.url}/healthz`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(r.status, 200);
    await r.body?.cancel();
    const exit = await d.stop();
    assert.equal(exit.killed, false, 'exited within the bound after SIGTERM');
    assert.equal(exit.code, 0);
  });
});
