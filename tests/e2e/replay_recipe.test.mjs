// The Node recipe of README "Test mode" (clients/node/deja-global-setup.mjs, a vitest/jest global
// setup) driven the way a test runner drives it, with the `openai` SDK constructed from the
// environment alone (no baseURL): record against the fake upstream, then replay with it stopped.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { DEJA_BIN, GW, startFake } from './helpers.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const { setup, teardown, dejaServer } = await import(join(REPO, 'clients/node/deja-global-setup.mjs'));

const RECIPE_ENV = ['DEJA_BIN', 'DEJA_CASSETTE', 'DEJA_MODE', 'DEJA_RECORD', 'DEJA_UPSTREAM', 'OPENAI_API_KEY',
  'OPENAI_BASE_URL', 'ANTHROPIC_BASE_URL', 'ANTHROPIC_API_KEY'];

describe('Node global-setup recipe', () => {
  let dir;
  let saved;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'deja-e2e-recipe-'));
    saved = Object.fromEntries(RECIPE_ENV.map((k) => [k, process.env[k]]));
    for (const k of RECIPE_ENV) delete process.env[k];
  });
  after(async () => {
    await teardown();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await rm(dir, { recursive: true, force: true });
  });

  test('record with DEJA_RECORD=1, replay by default', GW, async () => {
    const body = { model: 'fake-model', messages: [{ role: 'user', content: 'recipe' }] };
    process.env.DEJA_BIN = DEJA_BIN;
    process.env.DEJA_CASSETTE = join(dir, 'cassette.json');

    const fake = await startFake();
    let recorded;
    try {
      process.env.DEJA_RECORD = '1';
      process.env.DEJA_UPSTREAM = fake.url;
      process.env.OPENAI_API_KEY = 'sk-recipe-secret';
      await setup();
      assert.equal(dejaServer().mode, 'record');
      assert.equal(process.env.OPENAI_BASE_URL, `${dejaServer().url}/v1`);
      recorded = await new OpenAI({ maxRetries: 0 }).chat.completions.create(body);
      await teardown();
      assert.equal(process.env.OPENAI_BASE_URL, undefined, 'teardown restores the environment');
      assert.equal(await fake.count('/v1/chat/completions'), 1);
    } finally {
      await fake.stop();
    }
    assert.ok(!(await readFile(process.env.DEJA_CASSETTE, 'utf8')).includes('sk-recipe-secret'));

    delete process.env.DEJA_RECORD;
    delete process.env.DEJA_UPSTREAM;
    delete process.env.OPENAI_API_KEY;
    await setup();
    assert.equal(dejaServer().mode, 'replay');
    assert.equal(process.env.OPENAI_API_KEY, 'sk-deja-replay', 'a placeholder key for the SDK');
    const replayed = await new OpenAI({ maxRetries: 0 }).chat.completions.create(body).withResponse();
    assert.equal(replayed.response.headers.get('x-deja-cache'), 'hit');
    assert.equal(replayed.data.id, recorded.id);
    assert.equal(replayed.data.choices[0].message.content, recorded.choices[0].message.content);
    await teardown();
    assert.equal(process.env.OPENAI_API_KEY, undefined);
  });
});
