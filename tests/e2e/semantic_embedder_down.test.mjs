// `deja serve --semantic` with a remote embedder whose endpoint is down when deja starts: requests
// fail open to exact-only, and once the endpoint answers the semantic tier comes to life without a
// restart; a saved index, whose load needs the embedder's dimension, is loaded then by serve's
// periodic retry. The endpoint is a small bag-of-words /v1/embeddings server in this file (so
// reworded questions are near), started late on a port reserved up front.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { DIRECT, closedPort, expectCache, indexed, metric, startDeja, startFake } from './helpers.mjs';

const QUESTION = 'What is the capital city of France?';
const REWORDED = 'Tell me the capital city of France';
const DIMS = 256;
// serve retries a deferred index load every 5 s (kDeferredIndexRetrySeconds).
const RETRY_BOUND_MS = 20_000;

// Sum of one-hot word vectors (words hashed into DIMS slots); the remote embedder normalizes it.
function bagOfWords(text) {
  const v = new Array(DIMS).fill(0);
  for (const word of text.toLowerCase().match(/[a-z0-9]+/g) ?? []) {
    v[createHash('sha256').update(word).digest().readUInt16LE(0) % DIMS] += 1;
  }
  return v;
}

// An OpenAI-compatible embeddings endpoint on `port`.
async function startEmbeddings(port) {
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const input = JSON.parse(body).input;
      const texts = Array.isArray(input) ? input : [input];
      const data = texts.map((t, index) => ({ object: 'embedding', index, embedding: bagOfWords(t) }));
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ object: 'list', data, model: 'bow' }));
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    stop: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(resolve);
    }),
  };
}

const ask = (client, content) =>
  client.chat.completions.create({ model: 'fake-model', messages: [{ role: 'user', content }] }).withResponse();


describe('semantic cache with a remote embedder down at start', { skip: DIRECT && 'needs the deja gateway (DIRECT=1)' }, () => {
  let fake;
  let embeddings;
  let dataDir;
  before(async () => {
    fake = await startFake();
    dataDir = await mkdtemp(join(tmpdir(), 'deja-e2e-embedder-down-'));
  });
  after(async () => {
    await embeddings?.stop();
    await fake?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const serve = (port, extra = []) => startDeja({
    upstream: fake.url,
    args: ['--semantic', '--set', 'semantic.embedder=remote', '--set', `semantic.remote_url=http://127.0.0.1:${port}`,
      '--set', 'semantic.remote_model=bow', '--set', 'semantic.remote_api_key_env=DEJA_E2E_NO_KEY',
      '--set', 'semantic.max_false_hit_rate=1', '--set', 'semantic.threshold=0.6', ...extra],
  });

  test('requests are exact-only while it is down, semantic hits once it answers', { timeout: 60_000 }, async () => {
    const port = await closedPort();
    const gw = await serve(port);
    try {
      const c = new OpenAI({ apiKey: 'sk-embedder-down', baseURL: `${gw.url}/v1`, maxRetries: 0 });
      const down = await ask(c, 'Which river flows through Budapest?');
      expectCache(down.response, 'miss', 'embedder down: an exact-only miss');
      const rewordedDown = await ask(c, 'Tell me which river flows through Budapest');
      expectCache(rewordedDown.response, 'miss', 'embedder down: no semantic lookup');
      assert.ok((await metric(gw.url, 'deja_errors_total{kind="embedder"}')) >= 2);

      embeddings = await startEmbeddings(port);
      const first = await ask(c, QUESTION);
      expectCache(first.response, 'miss');
      await indexed(gw.url, 1);
      const second = await ask(c, REWORDED);
      assert.equal(second.response.headers.get('x-deja-cache'), 'semantic-hit');
      assert.equal(second.response.headers.get('x-deja-matched-key'), first.response.headers.get('x-deja-key'));
    } finally {
      await embeddings?.stop();
      embeddings = undefined;
      await gw.stop();
    }
  });

  test('a saved index waits for the embedder and is loaded once it answers', { timeout: 90_000 }, async () => {
    const port = await closedPort();
    const store = ['--set', `store.data_dir=${dataDir}`];
    embeddings = await startEmbeddings(port);
    const c = (gw) => new OpenAI({ apiKey: 'sk-embedder-saved', baseURL: `${gw.url}/v1`, maxRetries: 0 });
    let gw = await serve(port, store);
    let first;
    try {
      first = await ask(c(gw), QUESTION);
      await indexed(gw.url, 1);
    } finally {
      await gw.stop();  // saves the index
    }
    await embeddings.stop();
    embeddings = undefined;

    gw = await serve(port, store);
    try {
      assert.equal(await metric(gw.url, 'deja_semantic_index_entries'), 0, 'down: the saved index waits');
      embeddings = await startEmbeddings(port);
      // No request needed: serve's retry probes the endpoint, learns the dimension, loads the file.
      await indexed(gw.url, 1, RETRY_BOUND_MS);
      const second = await ask(c(gw), REWORDED);
      assert.equal(second.response.headers.get('x-deja-cache'), 'semantic-hit');
      assert.equal(second.response.headers.get('x-deja-matched-key'), first.response.headers.get('x-deja-key'));
    } finally {
      await gw.stop();
    }
  });
});
