// Upstream errors, malformed requests, wrong methods, upstream down, and single flight.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { ECHO, GW, T, closedPort, expectCache, startDeja, startStack, viaDeja } from './helpers.mjs';

const PATH = '/v1/chat/completions';
const chat = (model, content) => ({ model, messages: [{ role: 'user', content }] });
const OPENAI_AUTH = { 'content-type': 'application/json', authorization: 'Bearer sk-test-tenant-a' };

function assertOpenAIErrorShape(body) {
  assert.equal(typeof body.error, 'object', 'OpenAI error shape: {"error": {...}}');
  assert.equal(typeof body.error.message, 'string');
  assert.equal(typeof body.error.type, 'string');
  assert.ok('param' in body.error, 'error.param present');
  assert.ok('code' in body.error, 'error.code present');
}

describe('errors and single flight', () => {
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

  test('upstream 500 is passed through and never cached', T, async () => {
    const client = s.openai();
    for (let i = 0; i < 2; i++) {
      await assert.rejects(client.chat.completions.create(chat('fake-error-500', 'boom')), (err) => {
        assert.ok(err instanceof OpenAI.InternalServerError, `got ${err?.constructor?.name}: ${err?.message}`);
        assert.equal(err.status, 500);
        assert.match(err.message, /fake-error-500/, 'the upstream error body reaches the client');
        return true;
      });
    }
    const raw = await s.fetch(PATH, { method: 'POST', headers: OPENAI_AUTH, body: JSON.stringify(chat('fake-error-500', 'boom')) });
    assert.equal(raw.status, 500);
    assert.notEqual(raw.headers.get('x-deja-cache'), 'hit');
    assertOpenAIErrorShape(await raw.json());
    assert.equal(await s.fake.count(PATH), 3, 'every attempt reached upstream');
  });

  test('upstream 429 is passed through with retry-after and never cached', T, async () => {
    const client = s.openai();
    await assert.rejects(client.chat.completions.create(chat('fake-429', 'slow down')), (err) => {
      assert.ok(err instanceof OpenAI.RateLimitError, `got ${err?.constructor?.name}`);
      return true;
    });
    const raw = await s.fetch(PATH, { method: 'POST', headers: OPENAI_AUTH, body: JSON.stringify(chat('fake-429', 'slow down')) });
    assert.equal(raw.status, 429);
    assert.equal(raw.headers.get('retry-after'), '1');
    assert.notEqual(raw.headers.get('x-deja-cache'), 'hit');
    assert.equal((await raw.json()).error.code, 'rate_limit_exceeded');
    assert.equal(await s.fake.count(PATH), 2);
  });

  test('Anthropic upstream 500 is passed through in its shape and never cached', T, async () => {
    const client = s.anthropic();
    const body = { model: 'fake-error-500', max_tokens: 8, messages: [{ role: 'user', content: 'boom' }] };
    for (let i = 0; i < 2; i++) {
      await assert.rejects(client.messages.create(body), (err) => {
        assert.ok(err instanceof Anthropic.InternalServerError, `got ${err?.constructor?.name}`);
        assert.equal(err.error?.type, 'error');
        assert.equal(err.error?.error?.type, 'api_error');
        return true;
      });
    }
    assert.equal(await s.fake.count('/v1/messages'), 2);
  });

  test('malformed JSON -> 400 in the OpenAI error shape, not forwarded', T, async () => {
    const r = await s.fetch(PATH, { method: 'POST', headers: OPENAI_AUTH, body: '{"model": "fake-model", "messages": [' });
    assert.equal(r.status, 400);
    assert.match(r.headers.get('content-type') ?? '', /application\/json/);
    assertOpenAIErrorShape(await r.json());
    assert.equal(await s.fake.count(PATH), viaDeja(0, 1));
  });

  test('wrong method on a cached route -> 405', T, async () => {
    const get = await s.fetch(PATH, { headers: OPENAI_AUTH });
    assert.equal(get.status, 405);
    await get.body?.cancel();
    const put = await s.fetch('/v1/messages', { method: 'PUT', headers: { 'x-api-key': 'k', 'content-type': 'application/json' }, body: '{}' });
    assert.equal(put.status, 405);
    await put.body?.cancel();
    const stats = await s.fake.stats();
    assert.equal(stats.calls[PATH] ?? 0, viaDeja(0, 1));
    assert.equal(stats.calls['/v1/messages'] ?? 0, viaDeja(0, 1));
  });

  test('single flight: 5 concurrent identical misses make one upstream call', T, async () => {
    const client = s.openai();
    const body = chat('fake-gated', 'all at once');
    const calls = Array.from({ length: 5 }, () => client.chat.completions.create(body).withResponse());
    // Hold the upstream answer until the first request (or, without deja, all five) arrived there.
    const released = await s.fake.release(viaDeja(1, 5));
    assert.equal(released.released, viaDeja(1, 5));
    const results = await Promise.all(calls);
    const texts = results.map((r) => r.data.choices[0].message.content);
    for (const t of texts) assert.match(t, ECHO('all at once'));
    for (const r of results) expectCache(r.response, ['miss', 'hit'], 'single-flight follower');
    const ids = new Set(results.map((r) => r.data.id));
    assert.equal(ids.size, viaDeja(1, 5), 'everyone got the one upstream answer');
    assert.equal(await s.fake.count(PATH), viaDeja(1, 5));
    assert.equal((await s.fake.stats()).held.gated, 0);
  });

  test('upstream down -> 502 (OpenAI and Anthropic routes)', GW, async () => {
    const port = await closedPort();
    const down = await startDeja({ upstream: `http://127.0.0.1:${port}`, adminToken: 'x' });
    try {
      const openai = new OpenAI({ apiKey: 'sk-down', baseURL: `${down.url}/v1`, maxRetries: 0, timeout: 10_000 });
      await assert.rejects(openai.chat.completions.create(chat('fake-model', 'anyone there?')), (err) => {
        assert.equal(err.status, 502, `got ${err?.constructor?.name}: ${err?.message}`);
        return true;
      });
      const r = await fetch(`${down.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': 'sk-down', 'anthropic-version': '2023-06-01' },
        body: JSON.stringify({ model: 'fake-model', max_tokens: 8, messages: [{ role: 'user', content: 'hello?' }] }),
        signal: AbortSignal.timeout(10_000),
      });
      assert.equal(r.status, 502);
      assert.notEqual(r.headers.get('x-deja-cache'), 'hit');
    } finally {
      const exit = await down.stop();
      assert.equal(exit.code, 0, 'deja exits 0 on SIGTERM');
    }
  });
});
