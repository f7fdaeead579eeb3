// Tenant isolation and per-request cache controls (Cache-Control, X-Deja-*).
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { DIRECT, ECHO, GW, T, expectCache, expectSameAnswer, startStack, viaDeja } from './helpers.mjs';

const PATH = '/v1/chat/completions';
const chat = (content) => ({ model: 'fake-model', messages: [{ role: 'user', content }] });

describe('tenants and per-request controls', () => {
  let s;
  before(async () => {
    s = await startStack();
  });
  after(async () => {
    await s?.stop();
  });
  beforeEach(async () => {
    await s.fake.reset();
  });

  // One call with optional request headers -> {data, response}.
  const ask = (body, headers, client = s.openai()) => client.chat.completions.create(body, { headers }).withResponse();

  test('two OpenAI API keys never share an entry', T, async () => {
    const a = s.openai({ apiKey: 'sk-tenant-one' });
    const b = s.openai({ apiKey: 'sk-tenant-two' });
    const body = chat('same question, two tenants');
    expectCache((await ask(body, undefined, a)).response, 'miss', 'tenant one');
    expectCache((await ask(body, undefined, b)).response, 'miss', 'tenant two');
    assert.equal(await s.fake.count(PATH), 2);
    const auths = (await s.fake.stats()).requests.map((r) => r.headers.authorization);
    assert.deepEqual(auths, ['Bearer sk-tenant-one', 'Bearer sk-tenant-two'], 'each tenant key forwarded');
    expectCache((await ask(body, undefined, a)).response, 'hit', 'tenant one again');
    expectCache((await ask(body, undefined, b)).response, 'hit', 'tenant two again');
    assert.equal(await s.fake.count(PATH), viaDeja(2, 4));
  });

  test('two Anthropic API keys (x-api-key) never share an entry', T, async () => {
    const body = { model: 'fake-model', max_tokens: 64, messages: [{ role: 'user', content: 'two anthropic tenants' }] };
    for (const apiKey of ['sk-ant-one', 'sk-ant-two']) {
      const r = await s.anthropic({ apiKey }).messages.create(body).withResponse();
      expectCache(r.response, 'miss', apiKey);
    }
    const r = await s.anthropic({ apiKey: 'sk-ant-one' }).messages.create(body).withResponse();
    expectCache(r.response, 'hit');
    // The SDK's own auth form (Authorization: Bearer) scopes by the same key.
    const bearer = await s.anthropic({ apiKey: 'sk-ant-one', auth: 'bearer' }).messages.create(body).withResponse();
    expectCache(bearer.response, 'hit', 'same key sent as Authorization: Bearer');
    assert.equal((await s.fake.stats()).requests.length, viaDeja(2, 4));
    assert.match(bearer.data.content[0].text, ECHO('two anthropic tenants'));
  });

  test('Cache-Control: no-cache skips the lookup and refreshes the entry', T, async () => {
    const body = chat('refresh me');
    const a = await ask(body);
    expectCache(a.response, 'miss');
    const b = await ask(body, { 'Cache-Control': 'no-cache' });
    expectCache(b.response, 'refresh');
    assert.notEqual(b.data.id, a.data.id, 'a refresh is a fresh upstream answer');
    const c = await ask(body);
    expectCache(c.response, 'hit');
    expectSameAnswer(b.data.id, c.data.id, 'the refreshed answer replaced the entry (read-your-writes: the refresh response was fully received)');
    assert.equal(await s.fake.count(PATH), viaDeja(2, 3));
  });

  test('Cache-Control: no-store answers but stores nothing', T, async () => {
    const body = chat('do not keep me');
    expectCache((await ask(body, { 'Cache-Control': 'no-store' })).response, 'miss', 'no-store');
    expectCache((await ask(body)).response, 'miss', 'nothing was stored');
    expectCache((await ask(body)).response, 'hit', 'the plain request stored it');
    assert.equal(await s.fake.count(PATH), viaDeja(2, 3));
  });

  test('X-Deja-Cache: off bypasses lookup and storage', T, async () => {
    const body = chat('bypass me');
    expectCache((await ask(body)).response, 'miss');
    const off = await ask(body, { 'X-Deja-Cache': 'off' });
    expectCache(off.response, 'bypass');
    assert.match(off.data.choices[0].message.content, ECHO('bypass me'));
    expectCache((await ask(body, { 'X-Deja-Cache': 'off' })).response, 'bypass');
    const fresh = chat('bypass only');
    await ask(fresh, { 'X-Deja-Cache': 'off' });
    expectCache((await ask(fresh)).response, 'miss', 'a bypassed answer is not stored');
    assert.equal(await s.fake.count(PATH), 5, 'every bypassed or missed request reached upstream');
  });

  test('X-Deja-Namespace partitions the cache', T, async () => {
    const body = chat('namespaced question');
    expectCache((await ask(body, { 'X-Deja-Namespace': 'alpha' })).response, 'miss', 'alpha');
    expectCache((await ask(body, { 'X-Deja-Namespace': 'beta' })).response, 'miss', 'beta');
    expectCache((await ask(body)).response, 'miss', 'default namespace');
    expectCache((await ask(body, { 'X-Deja-Namespace': 'alpha' })).response, 'hit', 'alpha again');
    expectCache((await ask(body, { 'X-Deja-Namespace': 'beta' })).response, 'hit', 'beta again');
    assert.equal(await s.fake.count(PATH), viaDeja(3, 5));
  });

  test('Cache-Control: max-age bounds the age of an acceptable entry', T, async () => {
    const body = chat('how old may you be');
    expectCache((await ask(body)).response, 'miss');
    const young = await ask(body, { 'Cache-Control': 'max-age=3600' });
    expectCache(young.response, 'hit', 'max-age=3600');
    if (!DIRECT) {
      assert.ok(Number(young.response.headers.get('age')) <= 3600);
      // Entry age is wall-clock time, so nothing to wait on but the clock: poll (bounded) until
      // the entry is 2 s old; then max-age=1 must refuse it under any reading (age > N).
      const deadline = Date.now() + 8_000;
      for (let age = 0; age < 2; ) {
        assert.ok(Date.now() < deadline, 'the entry did not age 2 s within 8 s');
        await delay(250);
        const r = await ask(body, { 'Cache-Control': 'max-age=3600' });
        expectCache(r.response, 'hit', 'aging entry');
        age = Number(r.response.headers.get('age'));
      }
      const old = await ask(body, { 'Cache-Control': 'max-age=1' });
      expectCache(old.response, ['miss', 'refresh'], 'max-age=1 on a 2 s old entry');
    }
    assert.equal(await s.fake.count(PATH), 2);
  });

  test('X-Deja-TTL is accepted and the stored entry serves a hit', T, async () => {
    const body = chat('ttl of an hour');
    expectCache((await ask(body, { 'X-Deja-TTL': '3600' })).response, 'miss');
    expectCache((await ask(body)).response, 'hit');
    assert.equal(await s.fake.count(PATH), viaDeja(1, 2));
  });

  test("deja's own request headers are consumed, auth and provider headers forwarded", GW, async () => {
    await ask(chat('which headers reach upstream'), {
      'Cache-Control': 'max-age=60',
      'X-Deja-Namespace': 'header-check',
      'X-Deja-TTL': '120',
      'OpenAI-Beta': 'assistants=v2',
    });
    const h = (await s.fake.stats()).last_headers;
    const leaked = Object.keys(h).filter((k) => k.startsWith('x-deja-') || k === 'cache-control');
    assert.deepEqual(leaked, [], 'X-Deja-* and Cache-Control must not be forwarded');
    assert.equal(h.authorization, 'Bearer sk-test-tenant-a');
    assert.equal(h['openai-beta'], 'assistants=v2');
    assert.equal((await s.fake.stats()).last_request.body.messages[0].content, 'which headers reach upstream');

    await s.anthropic().messages.create(
      { model: 'fake-model', max_tokens: 8, messages: [{ role: 'user', content: 'anthropic headers' }] },
      { headers: { 'X-Deja-Namespace': 'header-check', 'X-Deja-Cache': 'off' } },
    );
    const ah = (await s.fake.stats()).last_headers;
    assert.deepEqual(Object.keys(ah).filter((k) => k.startsWith('x-deja-')), []);
    assert.equal(ah['x-api-key'], 'sk-ant-test-tenant-a');
    assert.ok(ah['anthropic-version']);
  });
});
