// Legacy completions, embeddings and the Responses API through the official `openai` SDK.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { ECHO, T, expectCache, expectSameAnswer, startStack, viaDeja } from './helpers.mjs';

// Responses stream events -> {id, types, seq, text, calls, final}.
async function collectResponses(stream) {
  const out = { id: null, types: [], seq: [], text: '', args: '', final: null };
  for await (const ev of stream) {
    out.types.push(ev.type);
    out.seq.push(ev.sequence_number);
    if (ev.type === 'response.created') out.id = ev.response.id;
    if (ev.type === 'response.output_text.delta') out.text += ev.delta;
    if (ev.type === 'response.function_call_arguments.delta') out.args += ev.delta;
    if (ev.type === 'response.completed') out.final = ev.response;
  }
  return out;
}

describe('completions, embeddings, responses', () => {
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

  test('completions: miss, hit, and stream <-> JSON replay', T, async () => {
    const client = s.openai();
    const body = { model: 'fake-model', prompt: 'Once upon a time', max_tokens: 16 };
    const a = await client.completions.create(body).withResponse();
    expectCache(a.response, 'miss');
    assert.equal(a.data.object, 'text_completion');
    assert.match(a.data.choices[0].text, ECHO('Once upon a time'));
    const b = await client.completions.create(body).withResponse();
    expectCache(b.response, 'hit');
    expectSameAnswer(a.data.id, b.data.id);

    const c = await client.completions.create({ ...body, stream: true }).withResponse();
    expectCache(c.response, 'hit');
    let text = '';
    let finish = null;
    for await (const chunk of c.data) {
      text += chunk.choices[0]?.text ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(text, a.data.choices[0].text);
    assert.equal(finish, 'stop');

    // And the other way: a stored stream answers a JSON request.
    const streamed = { model: 'fake-model', prompt: 'Streamed tale', max_tokens: 16 };
    let streamedText = '';
    for await (const chunk of await client.completions.create({ ...streamed, stream: true })) {
      streamedText += chunk.choices[0]?.text ?? '';
    }
    const d = await client.completions.create(streamed).withResponse();
    expectCache(d.response, 'hit');
    assert.equal(d.data.choices[0].text, streamedText);
    assert.equal(d.data.choices[0].finish_reason, 'stop');
    assert.equal(await s.fake.count('/v1/completions'), viaDeja(2, 5));
  });

  test('embeddings: SDK default (base64 on the wire) miss, then hit with equal vectors', T, async () => {
    const client = s.openai();
    const body = { model: 'fake-embed', input: 'the quick brown fox' };
    const a = await client.embeddings.create(body).withResponse();
    expectCache(a.response, 'miss');
    const v = a.data.data[0].embedding;
    assert.equal(v.length, 8);
    assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-5, 'unit vector');
    assert.equal((await s.fake.stats()).last_request.body.encoding_format, 'base64');

    const b = await client.embeddings.create(body).withResponse();
    expectCache(b.response, 'hit');
    assert.deepEqual(b.data.data[0].embedding, v);
    assert.equal(await s.fake.count('/v1/embeddings'), viaDeja(1, 2));
  });

  test('embeddings: batches, dimensions, float format; vectors depend only on the text', T, async () => {
    const client = s.openai();
    const a = await client.embeddings.create({ model: 'fake-embed', input: ['alpha', 'beta'], dimensions: 16, encoding_format: 'float' });
    assert.equal(a.data.length, 2);
    assert.deepEqual(a.data.map((d) => d.index), [0, 1]);
    assert.equal(a.data[0].embedding.length, 16);
    assert.notDeepEqual(a.data[0].embedding, a.data[1].embedding);
    const b = await client.embeddings.create({ model: 'fake-embed', input: ['alpha'], dimensions: 16, encoding_format: 'float' }).withResponse();
    expectCache(b.response, 'miss', 'a different batch is a different request');
    assert.deepEqual(b.data.data[0].embedding, a.data[0].embedding);
    assert.equal(await s.fake.count('/v1/embeddings'), 2);
  });

  test('responses: miss, then hit', T, async () => {
    const client = s.openai();
    const body = { model: 'fake-model', input: 'respond to me', instructions: 'Be terse.' };
    const a = await client.responses.create(body).withResponse();
    expectCache(a.response, 'miss');
    assert.equal(a.data.object, 'response');
    assert.equal(a.data.status, 'completed');
    assert.match(a.data.output_text, ECHO('respond to me'));
    const b = await client.responses.create(body).withResponse();
    expectCache(b.response, 'hit');
    assert.equal(b.data.output_text, a.data.output_text);
    expectSameAnswer(a.data.id, b.data.id);
    assert.equal(await s.fake.count('/v1/responses'), viaDeja(1, 2));
  });

  test('responses: streaming miss, streaming hit, and JSON assembled from the stored stream', T, async () => {
    const client = s.openai();
    const body = { model: 'fake-model', input: [{ role: 'user', content: [{ type: 'input_text', text: 'stream the response' }] }] };
    const a = await client.responses.create({ ...body, stream: true }).withResponse();
    expectCache(a.response, 'miss');
    const first = await collectResponses(a.data);
    assert.equal(first.types[0], 'response.created');
    assert.equal(first.types.at(-1), 'response.completed');
    assert.match(first.text, ECHO('stream the response'));

    const b = await client.responses.create({ ...body, stream: true }).withResponse();
    expectCache(b.response, 'hit');
    const second = await collectResponses(b.data);
    assert.equal(second.text, first.text);
    assert.equal(second.types[0], 'response.created');
    assert.equal(second.types.at(-1), 'response.completed');
    assert.ok(second.types.includes('response.output_text.delta'));
    assert.deepEqual(second.seq, [...second.seq].sort((x, y) => x - y), 'sequence_number increases');
    expectSameAnswer(first.id, second.id);

    const c = await client.responses.create(body).withResponse();
    expectCache(c.response, 'hit');
    assert.equal(c.data.output_text, first.text);
    assert.equal(c.data.status, 'completed');
    assert.equal(await s.fake.count('/v1/responses'), viaDeja(1, 3));
  });

  test('responses: stored JSON replays as a stream the SDK ResponseStream accepts', T, async () => {
    const client = s.openai();
    const body = { model: 'fake-model', input: 'json then ResponseStream' };
    const a = await client.responses.create(body);
    const final = await client.responses.stream(body).finalResponse();
    assert.equal(final.output_text, a.output_text);
    expectSameAnswer(a.id, final.id);
    assert.equal(await s.fake.count('/v1/responses'), viaDeja(1, 2));
  });

  test('responses: function calls are stored and replayed', T, async () => {
    const client = s.openai();
    const body = {
      model: 'fake-model',
      input: 'What is the weather in Tokyo?',
      tools: [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' } } }, strict: false }],
    };
    const a = await client.responses.create(body).withResponse();
    expectCache(a.response, 'miss');
    const call = a.data.output[0];
    assert.equal(call.type, 'function_call');
    assert.equal(call.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.arguments), { location: 'Tokyo' });

    const b = await client.responses.create({ ...body, stream: true }).withResponse();
    expectCache(b.response, 'hit');
    const got = await collectResponses(b.data);
    assert.deepEqual(JSON.parse(got.args), { location: 'Tokyo' });
    assert.equal(got.final.output[0].type, 'function_call');
    expectSameAnswer(call.call_id, got.final.output[0].call_id, 'call_id');
    assert.equal(await s.fake.count('/v1/responses'), viaDeja(1, 2));
  });
});
