// The embedders through the real binary: `deja embed` for each kind that runs offline, checked
// against reference outputs (the PyTorch fixture for bert, model2vec's Python goldens for static),
// and `deja serve --semantic` on the bert embedder answering a reworded question from the cache.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { DEJA_BIN, DIRECT, indexed, runDeja, startDeja, startFake } from './helpers.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BERT_TINY = join(REPO, 'src/semantic/testdata/bert-tiny');
const SHARED = process.env.DEJA_SHARED_DIR || join(REPO, '../shared');
const MODEL2VEC = join(SHARED, 'testdata/model2vec');
// Converted from the npm package by scripts/fetch-word-vectors.sh (make test runs it).
const WORDS = process.env.DEJA_WORD_VECTORS || join(dirname(DEJA_BIN), 'word-vectors/wink-sg-100d.dwv');
const SKIP = DIRECT ? 'needs the deja binary (DIRECT=1)' : false;
const T = { timeout: 60_000, skip: SKIP };

async function embed(args) {
  const r = await runDeja(['embed', ...args]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}
const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
const maxAbsDiff = (a, b) => Math.max(...a.map((x, i) => Math.abs(x - b[i])));

describe('embedders through deja embed', { skip: SKIP }, () => {
  test('bert agrees with the PyTorch reference of the committed fixture', T, async () => {
    const ref = JSON.parse(await readFile(join(BERT_TINY, 'reference.json'), 'utf8'));
    for (const t of ref.texts.slice(0, 3)) {
      const v = await embed(['--embedder', 'bert', '--model-dir', BERT_TINY, t.text]);
      const want = t.embeddings.mean;
      assert.equal(v.length, want.length);
      assert.ok(maxAbsDiff(v, want) < 1e-4, `${t.text}: ${maxAbsDiff(v, want)}`);
    }
  });

  test('lexical needs no files and gives a unit vector of the asked size', T, async () => {
    const v = await embed(['--embedder', 'lexical', '--dimensions', '128', 'How tall is Mount Everest?']);
    assert.equal(v.length, 128);
    assert.ok(Math.abs(norm(v) - 1) < 1e-5);
  });

  test('static reproduces model2vec\'s golden output', { ...T, skip: SKIP || (!existsSync(MODEL2VEC) && `${MODEL2VEC} absent`) }, async () => {
    const golden = JSON.parse(await readFile(join(MODEL2VEC, 'embeddings_short.json'), 'utf8'))[0];
    const v = await embed(['--embedder', 'static', '--model-dir', join(MODEL2VEC, 'test-model-float32'), 'hello world']);
    assert.equal(v.length, golden.length);
    assert.ok(maxAbsDiff(v, golden) < 1e-5, JSON.stringify({ v, golden }));
  });

  test('words embeds with the converted word vectors', { ...T, skip: SKIP || (!existsSync(WORDS) && `${WORDS} absent`) }, async () => {
    const cat = await embed(['--embedder', 'words', '--model-dir', WORDS, 'the cat sat on the mat']);
    const kitten = await embed(['--embedder', 'words', '--model-dir', WORDS, 'a kitten sat on a rug']);
    const stocks = await embed(['--embedder', 'words', '--model-dir', WORDS, 'quarterly earnings beat forecasts']);
    assert.equal(cat.length, 100);
    const cos = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0) / (norm(a) * norm(b));
    assert.ok(cos(cat, kitten) > cos(cat, stocks), `${cos(cat, kitten)} vs ${cos(cat, stocks)}`);
  });

  test('a missing model directory is a clear error', T, async () => {
    const r = await runDeja(['embed', '--embedder', 'bert', '--model-dir', join(REPO, 'no-such-model'), 'x']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /no-such-model/);
  });
});

describe('deja serve --semantic on the bert embedder', { skip: SKIP }, () => {
  test('a reworded question is answered from the cache', T, async () => {
    const fake = await startFake();
    const dataDir = await mkdtemp(join(tmpdir(), 'deja-e2e-bert-'));
    let gw;
    try {
      gw = await startDeja({ upstream: fake.url, args: ['--semantic', '--set', `store.data_dir=${dataDir}`,
        '--set', 'semantic.embedder=bert', '--set', `semantic.model_dir=${BERT_TINY}`,
        '--set', 'semantic.max_false_hit_rate=1'] });
      assert.ok(gw.proc.log.some((l) => /semantic cache on \(embedder bert/.test(l)), gw.proc.log.join('\n'));
      const client = new OpenAI({ apiKey: 'sk-bert', baseURL: `${gw.url}/v1`, maxRetries: 0 });
      const ask = (content) => client.chat.completions.create(
        { model: 'gpt-4o-mini', messages: [{ role: 'user', content }] }).withResponse();
      const first = await ask('What is the capital city of France?');
      assert.equal(first.response.headers.get('x-deja-cache'), 'miss');
      await indexed(gw.url, 1);  // the entry joins the index just after the answer
      const r = await ask('what is the capital city of france');  // bert lower-cases; no "?"
      const cache = r.response.headers.get('x-deja-cache');
      assert.equal(r.data.choices[0].message.content, first.data.choices[0].message.content);
      assert.equal(r.response.headers.get('x-deja-matched-key'), first.response.headers.get('x-deja-key'));
      assert.equal(cache, 'semantic-hit');
    } finally {
      await gw?.stop();
      await fake.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
