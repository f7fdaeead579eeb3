// Self-test of the fake upstream (always talks to it directly): determinism, volatile fields, auth,
// control endpoints (gate, slow stream, truncate, reset), embeddings encoding.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import OpenAI from 'openai';
import { ECHO, T, collectChat, startFake } from './helpers.mjs';

const CHAT = '/v1/chat/completions';
const AUTH = { 'content-type': 'application/json', authorization: 'Bearer sk-fake-test' };

describe('fake upstream', () => {
  let fake;
  let client;
  const post = (path, body, headers = AUTH) =>
    fetch(fake.url + path, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(20_000) });
  before(async () => {
    fake = await startFake();
    client = new OpenAI({ apiKey: 'sk-fake-test', baseURL: `${fake.url}/v1`, maxRetries: 0, timeout: 20_000 });
  });
  after(async () => {
    if (fake) assert.equal((await fake.stop()).killed, false, 'the fake stops on SIGTERM');
  });
  beforeEach(async () => {
    await fake.reset();
  });

  test('answers are deterministic, volatile fields are not, stream and JSON agree', T, async () => {
    const body = { model: 'fake-model', messages: [{ role: 'user', content: 'determinism' }] };
    const a = await client.chat.completions.create(body);
    const b = await client.chat.completions.create(body);
    assert.equal(a.choices[0].message.content, b.choices[0].message.content);
    assert.match(a.choices[0].message.content, ECHO('determinism'));
    assert.notEqual(a.id, b.id);
    const streamed = await collectChat(await client.chat.completions.create({ ...body, stream: true }));
    assert.equal(streamed.texts[0], a.choices[0].message.content);
    const other = await client.chat.completions.create({ ...body, temperature: 0.5 });
    assert.notEqual(other.choices[0].message.content, a.choices[0].message.content, 'the hash covers every field');
    assert.equal(await fake.count(CHAT), 4);
  });

  test('missing credentials -> 401 in each provider shape', T, async () => {
    const o = await post(CHAT, { model: 'fake-model', messages: [] }, { 'content-type': 'application/json' });
    assert.equal(o.status, 401);
    assert.equal(typeof (await o.json()).error.message, 'string');
    const a = await post('/v1/messages', { model: 'fake-model', max_tokens: 1, messages: [] }, { 'content-type': 'application/json' });
    assert.equal(a.status, 401);
    assert.equal((await a.json()).error.type, 'authentication_error');
  });

  test('stats record per-path counts and the last request headers', T, async () => {
    await post(CHAT, { model: 'fake-model', messages: [{ role: 'user', content: 'x' }] }, { ...AUTH, 'x-probe': 'yes' });
    await fetch(`${fake.url}/v1/models`, { headers: AUTH, signal: AbortSignal.timeout(20_000) }).then((r) => r.json());
    const stats = await fake.stats();
    assert.deepEqual(stats.calls, { [CHAT]: 1, '/v1/models': 1 });
    assert.equal(stats.requests[0].headers['x-probe'], 'yes');
    assert.equal(stats.last_request.path, '/v1/models');
    assert.equal(stats.last_headers.authorization, 'Bearer sk-fake-test');
  });

  test('fake-gated holds answers until released; reset releases too', T, async () => {
    const body = { model: 'fake-gated', messages: [{ role: 'user', content: 'wait for it' }] };
    const held = [post(CHAT, body), post(CHAT, body)];
    assert.equal((await fake.waitGated(2)).gated, 2);
    assert.equal((await fake.stats()).held.gated, 2);
    assert.equal((await fake.release(2)).released, 2);
    for (const r of await Promise.all(held)) assert.equal(r.status, 200);
    const third = post(CHAT, body);
    await fake.waitGated(1);
    await fake.reset();
    assert.equal((await third).status, 200);
  });

  test('fake-slow-stream sends one frame per step', T, async () => {
    const res = post(CHAT, { model: 'fake-slow-stream', stream: true, messages: [{ role: 'user', content: 'slow' }] });
    const first = await fake.step(1);
    assert.equal(first.sent, 1);
    const reader = (await res).body.getReader();
    const chunk = new TextDecoder().decode((await reader.read()).value);
    assert.match(chunk, /^data: \{.*"role":"assistant"/);
    const rest = await fake.step(1000);
    assert.equal(rest.remaining, 0);
    let tail = '';
    for (let r = await reader.read(); !r.done; r = await reader.read()) tail += new TextDecoder().decode(r.value);
    assert.match(tail, /data: \[DONE\]\n\n$/);
  });

  test('fake-truncate cuts streams and bodies off', T, async () => {
    const stream = await post(CHAT, { model: 'fake-truncate', stream: true, messages: [{ role: 'user', content: 'cut' }] });
    await assert.rejects(stream.text(), 'the chunked body never finishes');
    const json = await post(CHAT, { model: 'fake-truncate', messages: [{ role: 'user', content: 'cut' }] });
    await assert.rejects(json.text(), 'the body is shorter than its content-length');
  });

  test('embeddings: base64 decodes to the float answer', T, async () => {
    const body = { model: 'fake-embed', input: 'vector me', dimensions: 12 };
    const floats = await (await post('/v1/embeddings', { ...body, encoding_format: 'float' })).json();
    const b64 = await (await post('/v1/embeddings', { ...body, encoding_format: 'base64' })).json();
    const buf = Buffer.from(b64.data[0].embedding, 'base64');
    const decoded = Array.from(new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4));
    assert.deepEqual(decoded, floats.data[0].embedding);
    assert.equal(decoded.length, 12);
  });

  test('models list in each provider shape; unknown paths 404', T, async () => {
    const o = await (await fetch(`${fake.url}/v1/models`, { headers: AUTH, signal: AbortSignal.timeout(20_000) })).json();
    assert.equal(o.object, 'list');
    const a = await (await fetch(`${fake.url}/v1/models`, { headers: { 'anthropic-version': '2023-06-01' }, signal: AbortSignal.timeout(20_000) })).json();
    assert.equal(a.data[0].type, 'model');
    assert.equal(a.has_more, false);
    const missing = await post('/v1/nope', {});
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
  });
});
