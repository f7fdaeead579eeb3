// Anthropic Messages through the official `@anthropic-ai/sdk`: hits, streams, cross-form replay, tool_use.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { ECHO, T, collectAnthropic, expectCache, expectSameAnswer, startStack, viaDeja } from './helpers.mjs';

const PATH = '/v1/messages';
const WEATHER_TOOL = {
  name: 'get_weather',
  description: 'Current weather for a city',
  input_schema: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
};
const ask = (content, extra = {}) => ({
  model: 'fake-model',
  max_tokens: 256,
  messages: [{ role: 'user', content }],
  ...extra,
});

describe('anthropic messages', () => {
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

  test('message: miss, then hit; x-api-key and anthropic-version forwarded', T, async () => {
    const client = s.anthropic();
    const body = ask('bonjour claude', { system: 'Be brief.' });
    const a = await client.messages.create(body).withResponse();
    expectCache(a.response, 'miss');
    assert.equal(a.data.type, 'message');
    assert.equal(a.data.role, 'assistant');
    assert.equal(a.data.stop_reason, 'end_turn');
    assert.match(a.data.content[0].text, ECHO('bonjour claude'));
    const stats = await s.fake.stats();
    assert.equal(stats.last_headers['x-api-key'], 'sk-ant-test-tenant-a');
    assert.ok(stats.last_headers['anthropic-version'], 'anthropic-version forwarded');

    const b = await client.messages.create(body).withResponse();
    expectCache(b.response, 'hit');
    assert.deepEqual(b.data.content, a.data.content);
    expectSameAnswer(a.data.id, b.data.id);
    assert.equal(await s.fake.count(PATH), viaDeja(1, 2));
  });

  test('streaming miss, then streaming hit with the full event sequence', T, async () => {
    const client = s.anthropic();
    const body = ask('stream twice, claude', { stream: true });
    const a = await client.messages.create(body).withResponse();
    expectCache(a.response, 'miss');
    const first = await collectAnthropic(a.data);
    assert.match(first.text, ECHO('stream twice, claude'));
    assert.equal(first.types[0], 'message_start');
    assert.equal(first.types.at(-1), 'message_stop');
    assert.equal(first.stopReason, 'end_turn');

    const b = await client.messages.create(body).withResponse();
    expectCache(b.response, 'hit');
    const second = await collectAnthropic(b.data);
    assert.equal(second.text, first.text);
    assert.equal(second.types[0], 'message_start');
    assert.ok(second.types.includes('content_block_start') && second.types.includes('message_delta'));
    assert.equal(second.types.at(-1), 'message_stop');
    assert.equal(second.stopReason, 'end_turn');
    expectSameAnswer(first.id, second.id);
    assert.equal(await s.fake.count(PATH), viaDeja(1, 2));
  });

  test('stored non-stream message is replayed as a stream (MessageStream accepts it)', T, async () => {
    const client = s.anthropic();
    const body = ask('json first, claude');
    const a = await client.messages.create(body);

    const stream = client.messages.stream(body);
    const { response } = await stream.withResponse();
    expectCache(response, 'hit');
    const final = await stream.finalMessage();
    assert.deepEqual(final.content, a.content);
    assert.equal(final.stop_reason, 'end_turn');
    expectSameAnswer(a.id, final.id);
    assert.equal(await s.fake.count(PATH), viaDeja(1, 2));
  });

  test('stored stream is assembled for a non-stream request', T, async () => {
    const client = s.anthropic();
    const body = ask('stream first, claude');
    const streamed = await collectAnthropic(await client.messages.create({ ...body, stream: true }));

    const b = await client.messages.create(body).withResponse();
    expectCache(b.response, 'hit');
    assert.equal(b.data.type, 'message');
    assert.equal(b.data.content.length, 1);
    assert.equal(b.data.content[0].type, 'text');
    assert.equal(b.data.content[0].text, streamed.text);
    assert.equal(b.data.stop_reason, 'end_turn');
    assert.ok(b.data.usage.output_tokens > 0, 'usage assembled');
    expectSameAnswer(streamed.id, b.data.id);
    assert.equal(await s.fake.count(PATH), viaDeja(1, 2));
  });

  test('tool_use: stored, replayed as JSON and as a stream', T, async () => {
    const client = s.anthropic();
    const body = ask('What is the weather in Lisbon?', { tools: [WEATHER_TOOL] });
    const a = await client.messages.create(body).withResponse();
    expectCache(a.response, 'miss');
    assert.equal(a.data.stop_reason, 'tool_use');
    const use = a.data.content.find((b) => b.type === 'tool_use');
    assert.equal(use.name, 'get_weather');
    assert.deepEqual(use.input, { location: 'Lisbon' });
    assert.match(use.id, /^toolu_/);

    const b = await client.messages.create(body).withResponse();
    expectCache(b.response, 'hit');
    const replayed = b.data.content.find((x) => x.type === 'tool_use');
    assert.deepEqual(replayed.input, { location: 'Lisbon' });
    expectSameAnswer(use.id, replayed.id, 'tool_use id');

    const c = await client.messages.create({ ...body, stream: true }).withResponse();
    expectCache(c.response, 'hit');
    const got = await collectAnthropic(c.data);
    assert.equal(got.stopReason, 'tool_use');
    assert.equal(got.toolUse.name, 'get_weather');
    assert.deepEqual(got.toolUse.input, { location: 'Lisbon' });
    expectSameAnswer(use.id, got.toolUse.id, 'tool_use id');
    assert.equal(await s.fake.count(PATH), viaDeja(1, 3));
  });

  test('tool_result turn: fresh toolu_ ids key alike (positional aliases)', T, async () => {
    const client = s.anthropic();
    const turn = (id) => ({
      model: 'fake-model',
      max_tokens: 256,
      tools: [WEATHER_TOOL],
      messages: [
        { role: 'user', content: 'What is the weather in Rome?' },
        { role: 'assistant', content: [{ type: 'tool_use', id, name: 'get_weather', input: { location: 'Rome' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content: 'cloudy, 18C' }] },
      ],
    });
    const a = await client.messages.create(turn('toolu_firstRunAAA')).withResponse();
    expectCache(a.response, 'miss');
    assert.equal(a.data.stop_reason, 'end_turn');
    assert.match(a.data.content[0].text, ECHO('cloudy, 18C'));
    const b = await client.messages.create(turn('toolu_secondRunBBB')).withResponse();
    expectCache(b.response, 'hit');
    assert.equal(await s.fake.count(PATH), viaDeja(1, 2));
  });

  test('malformed JSON on /v1/messages -> 400 in the Anthropic error shape', T, async () => {
    const r = await s.fetch(PATH, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'sk-ant-test-tenant-a', 'anthropic-version': '2023-06-01' },
      body: '{"model": "fake-model", "messages": [',
    });
    assert.equal(r.status, 400);
    const body = await r.json();
    assert.equal(body.type, 'error');
    assert.equal(typeof body.error.type, 'string');
    assert.equal(typeof body.error.message, 'string');
    assert.equal(await s.fake.count(PATH), viaDeja(0, 1), 'deja answers malformed JSON itself');
  });
});
