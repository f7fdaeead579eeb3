// `deja replay` (replay diff): record a cassette through `deja serve --mode record`, then re-ask its
// requests against the same fake upstream (nothing changed: exit 0) and against one that answers some
// requests differently (POST /__fake/variant: exit 1, the changed records named in the JSON report),
// in each comparison mode; the fake upstream also acts as the LLM judge (tests/fake_upstream/judge.mjs).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { DEJA_BIN, GW, closedPort, collectChat, startDeja, startFake } from './helpers.mjs';

const user = (content) => [{ role: 'user', content }];
const WEATHER_TOOL = {
  type: 'function',
  function: { name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } },
};
const REQUESTS = {
  hello: { model: 'fake-model', messages: user('hello replay diff'), temperature: 0 },
  capital: { model: 'fake-model', messages: user('what is the capital of France?'), temperature: 0 },
  stream: { model: 'fake-model', messages: user('streamed question'), stream: true },
  tool: { model: 'fake-model', messages: user('what is the weather in Paris?'), tools: [WEATHER_TOOL] },
  embed: { model: 'text-embedding-3-small', input: 'embed me', encoding_format: 'float' },
};
const CLAUDE = { model: 'claude-fake', max_tokens: 64, messages: user('hello claude replay') };
const RECORDS = 6;
const OPENAI_KEY = 'sk-replay-openai-secret';
const ANTHROPIC_KEY = 'sk-ant-replay-secret';

// Runs `deja replay` with the keys in its environment; resolves {code, out, err}. Async, so the fake
// upstream (in this process's event loop's child) keeps answering while deja runs.
function replay(args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(DEJA_BIN, ['replay', ...args], {
      env: { ...process.env, OPENAI_API_KEY: OPENAI_KEY, ANTHROPIC_API_KEY: ANTHROPIC_KEY, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, err });
    });
  });
}

describe('deja replay: re-ask a cassette and report changed answers', () => {
  let dir;
  let cassette;
  let fake;
  const keys = {};  // request name -> record key
  let n = 0;
  const report = () => join(dir, `report-${++n}.json`);
  const setVariant = async (match, suffix) => {
    const q = new URLSearchParams({ match, ...(suffix === undefined ? {} : { suffix }) });
    const r = await fetch(`${fake.url}/__fake/variant?${q}`, { method: 'POST', signal: AbortSignal.timeout(10_000) });
    assert.equal(r.status, 200);
  };
  const run = async (compare, extra = []) => {
    const file = report();
    const r = await replay(['--cassette', cassette, '--upstream', fake.url, '--compare', compare, '--report', file, ...extra]);
    for (const text of [r.out, r.err]) {
      assert.ok(!text.includes(OPENAI_KEY) && !text.includes(ANTHROPIC_KEY), 'no API key printed');
    }
    let json = null;
    try {
      json = JSON.parse(await readFile(file, 'utf8'));
    } catch {
      // no report (usage error)
    }
    return { ...r, report: json };
  };
  const changedKeys = (rep) => rep.records.filter((r) => r.status === 'changed').map((r) => r.key).sort();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'deja-e2e-replaydiff-'));
    cassette = join(dir, 'cassette.json');
    fake = await startFake();
  });
  after(async () => {
    if (fake) await fake.stop();
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    if (fake) await fake.reset();
  });

  test('record a cassette through deja serve --mode record', GW, async () => {
    const deja = await startDeja({ upstream: fake.url, args: ['--mode', 'record', '--cassette', cassette] });
    try {
      const openai = new OpenAI({ apiKey: 'sk-recorder', baseURL: `${deja.url}/v1`, organization: null, project: null,
        maxRetries: 0, timeout: 20_000 });
      const anthropic = new Anthropic({ apiKey: 'sk-ant-recorder', baseURL: deja.url, maxRetries: 0, timeout: 20_000 });
      await openai.chat.completions.create(REQUESTS.hello);
      await openai.chat.completions.create(REQUESTS.capital);
      const streamed = await collectChat(await openai.chat.completions.create(REQUESTS.stream));
      assert.match(streamed.texts[0], /^echo: streamed question/);
      const tool = await openai.chat.completions.create(REQUESTS.tool);
      assert.equal(tool.choices[0].finish_reason, 'tool_calls');
      await openai.embeddings.create(REQUESTS.embed);
      await anthropic.messages.create(CLAUDE);
    } finally {
      assert.equal((await deja.stop()).code, 0);
    }
    const doc = JSON.parse(await readFile(cassette, 'utf8'));
    assert.equal(doc.records.length, RECORDS);
    for (const r of doc.records) {
      const text = JSON.stringify(r.request);
      for (const [name, body] of Object.entries({ ...REQUESTS, claude: CLAUDE })) {
        const probe = body.messages ? body.messages[0].content : body.input;
        if (text.includes(JSON.stringify(probe))) keys[name] = r.key;
      }
    }
    assert.equal(Object.keys(keys).length, RECORDS, 'every request recorded once');
    assert.ok(doc.records.find((r) => r.key === keys.stream).response.events, 'the stream is recorded as events');
  });

  test('same upstream: nothing changed in any mode (exit 0)', GW, async () => {
    for (const compare of ['structured', 'bytes', 'embedding', 'judge']) {
      const r = await run(compare);
      assert.equal(r.code, 0, `${compare}: exit 0\n${r.out}${r.err}`);
      assert.equal(r.report.compare, compare);
      assert.equal(r.report.upstream, fake.url);
      assert.equal(r.report.cassette, cassette);
      assert.equal(r.report.total, RECORDS);
      assert.equal(r.report.unchanged, RECORDS, `${compare}: all unchanged\n${JSON.stringify(r.report, null, 1)}`);
      assert.equal(r.report.changed + r.report.errors, 0);
      assert.match(r.out, new RegExp(`^${RECORDS} records \\(${compare}\\): ${RECORDS} unchanged, 0 changed, 0 errors$`, 'm'));
      if (compare === 'embedding') {
        for (const rec of r.report.records) assert.equal(rec.similarity, 1);
      }
    }
    // 4 runs x 6 records re-asked; identical texts never reach the judge.
    const stats = await fake.stats();
    assert.equal(stats.total, 4 * RECORDS);
    // Requests were rebuilt from the records: non-streaming, keys from the environment.
    const chats = stats.requests.filter((q) => q.path === '/v1/chat/completions');
    assert.ok(chats.length > 0 && chats.every((q) => q.stream === false && q.headers.authorization === `Bearer ${OPENAI_KEY}`));
    const messages = stats.requests.filter((q) => q.path === '/v1/messages');
    assert.ok(messages.length > 0);
    for (const q of messages) {
      assert.equal(q.headers['x-api-key'], ANTHROPIC_KEY);
      assert.match(q.headers['anthropic-version'], /^\d{4}-\d\d-\d\d$/);
      assert.equal(q.headers.authorization, undefined, 'no OpenAI key sent to the Anthropic route');
    }
  });

  test('changed upstream: structured and bytes name the changed records (exit 1)', GW, async () => {
    await setVariant('capital of France', ' Or maybe Lyon.');
    for (const compare of ['structured', 'bytes']) {
      const r = await run(compare);
      assert.equal(r.code, 1, `${compare}: exit 1 on a regression\n${r.out}${r.err}`);
      assert.equal(r.report.changed, 1);
      assert.equal(r.report.unchanged, RECORDS - 1);
      assert.deepEqual(changedKeys(r.report), [keys.capital]);
      const rec = r.report.records.find((x) => x.key === keys.capital);
      assert.equal(rec.route, '/v1/chat/completions');
      assert.equal(rec.model, 'fake-model');
      assert.match(rec.detail, /Or maybe Lyon/);
      if (compare === 'structured') assert.match(rec.detail, /^\/0\/parts\/0\/text: /);
      assert.match(r.out, new RegExp(`^changed\\t${keys.capital.slice(0, 12)}\\t/v1/chat/completions\\tfake-model\\t`, 'm'));
    }
    // Several records changed at once, Anthropic included.
    await setVariant('hello', ' (v2)');
    const r = await run('structured');
    assert.equal(r.code, 1);
    assert.deepEqual(changedKeys(r.report), [keys.hello, keys.claude].sort());
  });

  test('embedding: a small wording change passes a loose threshold, not the default 0.9', GW, async () => {
    // "echo: what is the capital of France? indeed [hash]": lexical similarity 0.87 to the recording.
    await setVariant('capital of France', ' indeed');
    const loose = await run('embedding', ['--threshold', '0.8']);
    assert.equal(loose.code, 0, loose.out + loose.err);
    const rec = loose.report.records.find((x) => x.key === keys.capital);
    assert.equal(rec.status, 'unchanged');
    assert.ok(rec.similarity > 0.8 && rec.similarity < 0.95, `similarity ${rec.similarity}`);
    assert.equal(loose.report.threshold, 0.8);
    const strict = await run('embedding');
    assert.equal(strict.code, 1);
    assert.equal(strict.report.threshold, 0.9);
    assert.deepEqual(changedKeys(strict.report), [keys.capital]);
    assert.match(strict.report.records.find((x) => x.key === keys.capital).detail, /^similarity 0\.8\d{3} < threshold 0\.9000; /);
  });

  test('judge: the fake upstream judges; punctuation is equivalent, new content is not', GW, async () => {
    await setVariant('capital of France', '!!');
    const same = await run('judge', ['--judge-model', 'fake-judge']);
    assert.equal(same.code, 0, `the judge calls punctuation equivalent\n${same.out}${same.err}`);
    const judged = (await fake.stats()).requests.filter((q) => q.model === 'fake-judge');
    assert.equal(judged.length, 1, 'only the record whose text differs is judged');
    const prompt = JSON.stringify(judged[0].body.messages);
    assert.ok(prompt.includes('[deja-replay-judge v1]') && prompt.includes('what is the capital of France?'));
    assert.equal(same.report.records.find((x) => x.key === keys.capital).status, 'unchanged');

    await setVariant('capital of France', ' Or maybe Lyon.');
    const changed = await run('judge');
    assert.equal(changed.code, 1, changed.out + changed.err);
    assert.deepEqual(changedKeys(changed.report), [keys.capital]);
    assert.match(changed.report.records.find((x) => x.key === keys.capital).detail, /^judge: the new answer says .*or maybe lyon/);
    // Without --judge-model the record's model judges.
    assert.ok((await fake.stats()).requests.some((q) => q.model === 'fake-model' && JSON.stringify(q.body).includes('deja-replay-judge')));
  });

  test('--model asks another model; its answers differ from the recording', GW, async () => {
    const r = await run('structured', ['--model', 'fake-model-2', '--parallel', '1']);
    assert.equal(r.code, 1);
    assert.ok(r.report.records.every((x) => x.model === 'fake-model-2'));
    assert.ok((await fake.stats()).requests.every((q) => q.model === 'fake-model-2'));
    // The fake's answer text carries a hash of the whole request (model included): every text answer
    // changes; the tool call's arguments do not depend on the model.
    assert.equal(r.report.records.find((x) => x.key === keys.tool).status, 'unchanged');
    assert.equal(r.report.records.find((x) => x.key === keys.hello).status, 'changed');
  });

  test('errors and usage: exit 2', GW, async () => {
    const down = `http://127.0.0.1:${await closedPort()}`;
    const file = report();
    const r = await replay(['--cassette', cassette, '--upstream', down, '--report', file]);
    assert.equal(r.code, 2, r.out + r.err);
    const rep = JSON.parse(await readFile(file, 'utf8'));
    assert.equal(rep.errors, RECORDS);
    assert.ok(rep.records.every((x) => x.status === 'error' && x.detail.length > 0));

    assert.equal((await replay(['--cassette', cassette, '--upstream', fake.url, '--compare', 'fuzzy'])).code, 2);
    assert.equal((await replay(['--cassette', join(dir, 'missing.json'), '--upstream', fake.url])).code, 2);
    assert.equal((await replay(['--upstream', fake.url])).code, 2);
  });
});
