// The semantic tier's large indexes through the binary: with a tiny semantic.hnsw_threshold a
// context partition switches from flat search to HNSW (or FAISS IVF-PQ) after a few entries; matches
// keep being found, across a restart too.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { DIRECT, GW, indexed, metric, startDeja, startFake } from './helpers.mjs';

const QUESTIONS = [
  'What is the capital city of France?',
  'How many legs does a spider have?',
  'Who wrote the novel Moby Dick?',
  'Which planet is the largest in our solar system?',
  'What is the boiling point of water at sea level?',
  'Who painted the ceiling of the Sistine Chapel?',
];

const ask = (client, content) =>
  client.chat.completions.create({ model: 'fake-model', messages: [{ role: 'user', content }] }).withResponse();

describe('semantic index past hnsw_threshold', { skip: DIRECT && 'needs the deja gateway (DIRECT=1)' }, () => {
  let fake;
  let dataDir;
  before(async () => {
    fake = await startFake();
    dataDir = await mkdtemp(join(tmpdir(), 'deja-e2e-semindex-'));
  });
  after(async () => {
    await fake?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  for (const kind of ['hnsw', 'ivfpq']) {
    test(`${kind}: matches are found after the switch and after a restart`, GW, async () => {
      const dir = join(dataDir, kind);
      const args = ['--semantic', '--set', `store.data_dir=${dir}`, '--set', 'semantic.max_false_hit_rate=1',
        '--set', 'semantic.hnsw_threshold=2', '--set', `semantic.large_index=${kind}`,
        '--set', 'semantic.min_admission_score=0'];  // the fake's answers are cheap: admit every one
      let gw = await startDeja({ upstream: fake.url, args });
      try {
        let client = new OpenAI({ apiKey: 'sk-index', baseURL: `${gw.url}/v1`, maxRetries: 0 });
        const keys = [];
        for (const q of QUESTIONS) {
          const r = await ask(client, q);
          keys.push(r.response.headers.get('x-deja-key'));
        }
        await indexed(gw.url, QUESTIONS.length);
        // The partition switched (IVF-PQ keeps exact float vectors until it has enough to train).
        assert.equal(await metric(gw.url, 'deja_semantic_large_index_failures_total'), 0);
        const hit = await ask(client, 'who wrote the novel moby dick');
        assert.equal(hit.response.headers.get('x-deja-cache'), 'semantic-hit');
        assert.equal(hit.response.headers.get('x-deja-matched-key'), keys[2]);

        await gw.stop();
        gw = await startDeja({ upstream: fake.url, args });
        client = new OpenAI({ apiKey: 'sk-index', baseURL: `${gw.url}/v1`, maxRetries: 0 });
        assert.ok(gw.proc.log.some((l) => /semantic index loaded/.test(l)), gw.proc.log.join('\n'));
        const again = await ask(client, 'Who painted the ceiling of the Sistine chapel');
        assert.equal(again.response.headers.get('x-deja-cache'), 'semantic-hit');
        assert.equal(again.response.headers.get('x-deja-matched-key'), keys[5]);
      } finally {
        await gw.stop();
      }
    });
  }
});
