// Chat completions through the official `openai` SDK: hits, streams, cross-form replay, tools, n.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { ECHO, T, collectChat, expectCache, expectSameAnswer, startStack, viaDeja } from './helpers.mjs';

const PATH = '/v1/chat/completions';
const user = (content) => [{ role: 'user', content }];
const WEATHER_TOOL = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
  },
};

describe('chat completions', () => {
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

  test('plain chat: miss, then hit without a second upstream call', T, async () => {
    const client = s.openai();
    const body = { model: 'fake-model', messages: user('hello plain chat'), temperature: 0 };
    const a = await client.chat.completions.create(body).withResponse();
    expectCache(a.response, 'miss', 'first');
    assert.match(a.data.choices[0].message.content, ECHO('hello plain chat'));
    assert.equal(a.data.choices[0].finish_reason, 'stop');
    const stats = await s.fake.stats();
    assert.equal(stats.calls[PATH], 1);
    assert.equal(stats.last_headers.authorization, 'Bearer sk-test-tenant-a', 'Authorization forwarded');

    const b = await client.chat.completions.create(body).withResponse();
    expectCache(b.response, 'hit', 'second');
    assert.equal(b.data.choices[0].message.content, a.data.choices[0].message.content);
    expectSameAnswer(a.data.id, b.data.id);
    assert.equal(await s.fake.count(PATH), viaDeja(1, 2));
  });

  test('streaming miss, then streaming hit', T, async () => {
    const client = s.openai();
    const body = { model: 'fake-model', messages: user('stream me twice'), stream: true, stream_options: { include_usage: true } };
    const a = await client.chat.completions.create(body).withResponse();
    expectCache(a.response, 'miss', 'first');
    assert.match(a.response.headers.get('content-type'), /^text\/event-stream/);
    const first = await collectChat(a.data);
    assert.match(first.texts[0], ECHO('stream me twice'));
    assert.equal(first.finish[0], 'stop');
    assert.ok(first.usage && first.usage.total_tokens > 0, 'usage chunk (include_usage)');

    const b = await client.chat.completions.create(body).withResponse();
    expectCache(b.response, 'hit', 'second');
    const second = await collectChat(b.data);
    assert.equal(second.texts[0], first.texts[0]);
    assert.equal(second.finish[0], 'stop');
    assert.ok(second.usage && second.usage.total_tokens > 0, 'usage chunk replayed');
    expectSameAnswer(first.id, second.id);
    assert.equal(await s.fake.count(PATH), viaDeja(1, 2));
  });

  test('stored non-stream answer is replayed to a stream request', T, async () => {
    const client = s.openai();
    const base = { model: 'fake-model', messages: user('json first, stream later') };
    const a = await client.chat.completions.create(base).withResponse();
    expectCache(a.response, 'miss', 'json');

    const b = await client.chat.completions
      .create({ ...base, stream: true, stream_options: { include_usage: true } })
      .withResponse();
    expectCache(b.response, 'hit', 'stream');
    assert.match(b.response.headers.get('content-type'), /^text\/event-stream/);
    const got = await collectChat(b.data);
    assert.equal(got.texts[0], a.data.choices[0].message.content);
    assert.equal(got.finish[0], 'stop');
    assert.ok(got.usage, 'include_usage honoured on a replayed stream');
    expectSameAnswer(a.data.id, got.id);
    assert.equal(await s.fake.count(PATH), viaDeja(1, 2));
  });

  test('stored stream is assembled for a non-stream request (and the SDK stream helper)', T, async () => {
    const client = s.openai();
    const base = { model: 'fake-model', messages: user('stream first, json later') };
    const a = await client.chat.completions.create({ ...base, stream: true }).withResponse();
    expectCache(a.response, 'miss', 'stream');
    const streamed = await collectChat(a.data);

    const b = await client.chat.completions.create(base).withResponse();
    expectCache(b.response, 'hit', 'json');
    assert.equal(b.data.object, 'chat.completion');
    assert.equal(b.data.choices[0].message.role, 'assistant');
    assert.equal(b.data.choices[0].message.content, streamed.texts[0]);
    assert.equal(b.data.choices[0].finish_reason, 'stop');
    expectSameAnswer(streamed.id, b.data.id);

    // The SDK's own accumulator (ChatCompletionStream) accepts the replay.
    const final = await client.chat.completions.stream(base).finalChatCompletion();
    assert.equal(final.choices[0].message.content, streamed.texts[0]);
    assert.equal(await s.fake.count(PATH), viaDeja(1, 3));
  });

  test('n choices survive storage and replay as a stream', T, async () => {
    const client = s.openai();
    const base = { model: 'fake-model', messages: user('two choices please'), n: 2 };
    const a = await client.chat.completions.create(base);
    assert.equal(a.choices.length, 2);
    assert.notEqual(a.choices[0].message.content, a.choices[1].message.content);
    const b = await client.chat.completions.create({ ...base, stream: true }).withResponse();
    expectCache(b.response, 'hit');
    const got = await collectChat(b.data);
    assert.deepEqual(got.texts, a.choices.map((c) => c.message.content));
    assert.deepEqual(got.finish, ['stop', 'stop']);
  });

  test('tool calls: stored, replayed as JSON and as a stream', T, async () => {
    const client = s.openai();
    const base = { model: 'fake-model', messages: user("What's the weather in Paris?"), tools: [WEATHER_TOOL] };
    const a = await client.chat.completions.create(base).withResponse();
    expectCache(a.response, 'miss');
    const choice = a.data.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.content, null);
    const call = choice.message.tool_calls[0];
    assert.equal(call.type, 'function');
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { location: 'Paris' });
    assert.match(call.id, /^call_/);

    const b = await client.chat.completions.create(base).withResponse();
    expectCache(b.response, 'hit');
    assert.deepEqual(JSON.parse(b.data.choices[0].message.tool_calls[0].function.arguments), { location: 'Paris' });

    const c = await client.chat.completions.create({ ...base, stream: true }).withResponse();
    expectCache(c.response, 'hit');
    const got = await collectChat(c.data);
    assert.equal(got.finish[0], 'tool_calls');
    assert.equal(got.tools[0][0].name, 'get_weather');
    assert.deepEqual(JSON.parse(got.tools[0][0].arguments), { location: 'Paris' });
    expectSameAnswer(call.id, got.tools[0][0].id, 'tool call id');
    assert.equal(await s.fake.count(PATH), viaDeja(1, 3));
  });

  test('tool-result turn: fresh provider call ids key alike (positional aliases)', T, async () => {
    const client = s.openai();
    const turn = (id) => ({
      model: 'fake-model',
      tools: [WEATHER_TOOL],
      messages: [
        { role: 'user', content: "What's the weather in Oslo?" },
        { role: 'assistant', content: null, tool_calls: [{ id, type: 'function', function: { name: 'get_weather', arguments: '{"location":"Oslo"}' } }] },
        { role: 'tool', tool_call_id: id, content: 'sunny, 21C' },
      ],
    });
    const a = await client.chat.completions.create(turn('call_firstRun123')).withResponse();
    expectCache(a.response, 'miss');
    assert.equal(a.data.choices[0].finish_reason, 'stop');
    assert.match(a.data.choices[0].message.content, ECHO('tool result: sunny, 21C'));
    const b = await client.chat.completions.create(turn('call_secondRun456')).withResponse();
    expectCache(b.response, 'hit');
    assert.equal(await s.fake.count(PATH), viaDeja(1, 2));
  });

  test('a slow upstream stream reaches the client frame by frame, then is cached', { timeout: 20_000 }, async () => {
    const client = s.openai();
    const body = { model: 'fake-slow-stream', messages: user('drip feed'), stream: true };
    const pending = client.chat.completions.create(body).withResponse();
    await s.fake.step(1); // the fake holds every frame until told: only the first exists so far
    const a = await pending;
    expectCache(a.response, 'miss');
    const it = a.data[Symbol.asyncIterator]();
    const first = await it.next();
    assert.equal(first.value.choices[0].delta.role, 'assistant');
    await s.fake.step(1);
    const second = await it.next();
    assert.equal(second.value.choices[0].delta.content, 'echo: ', 'second frame forwarded before the rest exists');
    await s.fake.release();
    let text = second.value.choices[0].delta.content;
    for (let r = await it.next(); !r.done; r = await it.next()) text += r.value.choices[0]?.delta?.content ?? '';
    assert.match(text, ECHO('drip feed'));

    // Non-stream repeat: served from the stored stream (the fake only drips streams, so a wrong
    // miss fails on the count instead of hanging).
    const b = await client.chat.completions.create({ ...body, stream: false }).withResponse();
    expectCache(b.response, 'hit');
    assert.match(b.data.choices[0].message.content, ECHO('drip feed'));
    assert.equal(await s.fake.count(PATH), viaDeja(1, 2));
  });

  test('a stream cut off by the upstream is not cached', T, async () => {
    const client = s.openai();
    const body = { model: 'fake-truncate', messages: user('this will be cut'), stream: true };
    const consume = async () => {
      const { data, response } = await client.chat.completions.create(body).withResponse();
      try {
        const got = await collectChat(data);
        return { response, finished: got.finish[0] !== undefined };
      } catch (err) {
        return { response, finished: false, err };
      }
    };
    const a = await consume();
    assert.equal(a.finished, false, 'the client must not see a complete answer');
    const b = await consume();
    assert.notEqual(b.response.headers.get('x-deja-cache'), 'hit', 'a truncated stream must not be stored');
    assert.equal(b.finished, false);
    assert.equal(await s.fake.count(PATH), 2);

    // The gateway is still serving.
    const ok = await client.chat.completions.create({ model: 'fake-model', messages: user('still alive?') });
    assert.match(ok.choices[0].message.content, ECHO('still alive?'));
  });
});
