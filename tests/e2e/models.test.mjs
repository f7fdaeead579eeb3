// `deja models pull` against a local server with the Hugging Face hub's URL layout, and
// `deja embed --embedder remote` against the fake upstream's /v1/embeddings, both through the real
// binary.
//
// The fake hub: GET /api/models/{org}/{name}/revision/{rev} lists the repo's files (with sizes,
// LFS SHA-256 and the commit); GET /{org}/{name}/resolve/{commit}/{file} serves them. The weights
// redirect (302, absolute URL) to a second "CDN" server on another port, tokenizer.json redirects
// (307) with a relative Location, as the real hub does for renamed or large files.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEJA_BIN, DIRECT, T, startFake } from './helpers.mjs';
import { embeddingVector } from '../fake_upstream/openai.mjs';

const SKIP = DIRECT ? 'needs the deja binary (DIRECT=1)' : false;
const COMMIT = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';
const TOKEN = 'hf_test_token_123';

// Runs build/deja; resolves {code, stdout, stderr} (never rejects on a non-zero exit).
function deja(args, env = {}) {
  return new Promise((resolve) => {
    execFile(DEJA_BIN, args, { env: { ...process.env, ...env }, timeout: 20_000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr }));
  });
}

function listen(handler) {
  const server = http.createServer(handler);
  return new Promise((res) => server.listen(0, '127.0.0.1', () => res(server)));
}
const urlOf = (server) => `http://127.0.0.1:${server.address().port}`;
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

// The fake repository: what deja must fetch, and files it must leave alone.
const FILES = {
  'config.json': Buffer.from('{"model_type":"model2vec","normalize":true}\n'),
  'tokenizer.json': Buffer.from(JSON.stringify({ version: '1.0', model: { type: 'WordPiece' } })),
  'modules.json': Buffer.from('[{"idx":0,"name":"0","path":".","type":"sentence_transformers.models.StaticEmbedding"}]'),
  '1_Pooling/config.json': Buffer.from('{"pooling_mode_mean_tokens":true}'),
  'model.safetensors': randomBytes(3 * 1024 * 1024 + 17),
  'README.md': Buffer.from('# not fetched\n'),
  'pytorch_model.bin': Buffer.from('not fetched either'),
  'onnx/model.onnx': Buffer.from('onnx bytes'),
};
const WANTED = ['config.json', 'tokenizer.json', 'modules.json', '1_Pooling/config.json', 'model.safetensors'];
const LFS = new Set(['model.safetensors', 'pytorch_model.bin']);

describe('deja models pull', { skip: SKIP }, () => {
  let hub, cdn, work;
  const log = [];  // {server, method, url, auth}
  // Per-test switches.
  const hubState = { corruptSize: false };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'deja-models-'));
    cdn = await listen((req, res) => {
      log.push({ server: 'cdn', url: req.url, auth: req.headers.authorization ?? null });
      const name = decodeURIComponent(req.url.replace(/^\/blobs\//, '').split('?')[0]);
      if (!FILES[name]) return res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(FILES[name]);
    });
    hub = await listen((req, res) => {
      log.push({ server: 'hub', url: req.url, auth: req.headers.authorization ?? null });
      const u = new URL(req.url, 'http://x');
      let m = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(u.pathname);
      if (m) {
        if (m[1] !== 'acme/tiny-embed') {
          // The real hub answers 401 with this header to anonymous callers for missing repos.
          return res.writeHead(401, { 'content-type': 'application/json', 'x-error-code': 'RepoNotFound' })
            .end(JSON.stringify({ error: 'Repository not found' }));
        }
        const siblings = Object.entries(FILES).map(([rfilename, buf]) => {
          const size = hubState.corruptSize && rfilename === 'config.json' ? buf.length + 5 : buf.length;
          return LFS.has(rfilename) ? { rfilename, size, lfs: { sha256: sha256(buf), size, pointerSize: 134 } }
            : { rfilename, size, blobId: 'x' };
        });
        return res.writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ id: m[1], sha: COMMIT, siblings }));
      }
      m = /^\/acme\/tiny-embed\/resolve\/([^/]+)\/(.+)$/.exec(u.pathname);
      if (m) {
        const [, rev, file] = m;
        const name = decodeURIComponent(file);
        if (rev !== COMMIT && rev !== 'main') return res.writeHead(404).end();
        if (name === 'model.safetensors') {
          return res.writeHead(302, { location: `${urlOf(cdn)}/blobs/${encodeURIComponent(name)}?sig=abc` }).end();
        }
        if (name === 'tokenizer.json' && !u.searchParams.has('moved')) {
          return res.writeHead(307, { location: 'tokenizer.json?moved=1' }).end('redirecting');
        }
        if (!FILES[name]) return res.writeHead(404).end(JSON.stringify({ error: 'Entry not found' }));
        return res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(FILES[name]);
      }
      res.writeHead(404).end();
    });
  });

  after(async () => {
    hub?.close();
    cdn?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('fetches only the files deja reads, byte for byte, following redirects', T, async () => {
    log.length = 0;
    const dest = join(work, 'pulled');
    const r = await deja(['models', 'pull', 'acme/tiny-embed', '--dir', dest, '--endpoint', urlOf(hub)],
      { HF_TOKEN: TOKEN });
    assert.equal(r.code, 0, `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    for (const name of WANTED) {
      const got = await readFile(join(dest, name));
      assert.ok(got.equals(FILES[name]), `${name} differs from the repository's`);
    }
    for (const name of ['README.md', 'pytorch_model.bin', 'onnx/model.onnx']) {
      assert.equal(existsSync(join(dest, name)), false, `${name} must not be fetched`);
    }
    // Nothing else on disk: no temporary files left behind.
    const entries = (await readdir(dest, { recursive: true })).sort();
    assert.deepEqual(entries, ['1_Pooling', ...WANTED].sort());
    // Progress lines name every file and the commit.
    assert.match(r.stdout, /pulling acme\/tiny-embed \(revision main, commit a1b2c3d4e5f6\)/);
    for (const name of WANTED) assert.ok(r.stdout.includes(`  ${name}: `), `no progress line for ${name}`);
    assert.match(r.stdout, /done: 5 files/);
    // Files were resolved at the listed commit; the token went to the hub, never to the CDN.
    assert.ok(log.some((e) => e.url === `/acme/tiny-embed/resolve/${COMMIT}/1_Pooling/config.json`));
    assert.ok(log.filter((e) => e.server === 'hub').every((e) => e.auth === `Bearer ${TOKEN}`));
    const cdnHits = log.filter((e) => e.server === 'cdn');
    assert.equal(cdnHits.length, 1);
    assert.equal(cdnHits[0].auth, null);
    assert.ok(log.some((e) => e.url.includes('tokenizer.json?moved=1')), 'the relative redirect was followed');
    assert.ok(!log.some((e) => e.url.includes('README.md')), 'README.md was requested');

    // A second pull skips the unchanged LFS file (SHA-256 match) and re-fetches the small ones.
    log.length = 0;
    const again = await deja(['models', 'pull', 'acme/tiny-embed', '--dir', dest, '--endpoint', urlOf(hub)]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /model\.safetensors: up to date/);
    assert.equal(log.filter((e) => e.server === 'cdn').length, 0);
  });

  test('--include adds a file; HF_ENDPOINT and the default directory under the data dir', T, async () => {
    const dataDir = join(work, 'data');
    const r = await deja(['models', 'pull', 'acme/tiny-embed', '--data-dir', dataDir, '--include', 'onnx/model.onnx'],
      { HF_ENDPOINT: urlOf(hub) });
    assert.equal(r.code, 0, r.stderr);
    const dest = join(dataDir, 'models', 'acme--tiny-embed');
    assert.ok((await readFile(join(dest, 'onnx/model.onnx'))).equals(FILES['onnx/model.onnx']));
    assert.ok((await readFile(join(dest, 'model.safetensors'))).equals(FILES['model.safetensors']));
  });

  test('a missing repository is a clear error and leaves nothing behind', T, async () => {
    const dest = join(work, 'missing');
    const r = await deja(['models', 'pull', 'acme/no-such-model', '--dir', dest, '--endpoint', urlOf(hub)]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /model acme\/no-such-model \(revision main\) on http:\/\/127\.0\.0\.1:\d+ not found/);
    assert.match(r.stderr, /Repository not found/);
    assert.equal(existsSync(dest), false, 'no directory may be created');
  });

  test('a size mismatch fails the pull without partial files', T, async () => {
    const dest = join(work, 'corrupt');
    hubState.corruptSize = true;
    try {
      const r = await deja(['models', 'pull', 'acme/tiny-embed', '--dir', dest, '--endpoint', urlOf(hub)]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /config\.json: received \d+ bytes, the listing says \d+/);
      assert.equal(existsSync(dest), false, 'the directory it created must be gone');
    } finally {
      hubState.corruptSize = false;
    }
  });

  test('an unreachable endpoint and a bad name fail cleanly', T, async () => {
    const r = await deja(['models', 'pull', 'acme/tiny-embed', '--dir', join(work, 'x'), '--endpoint', 'http://127.0.0.1:1']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /connect to upstream 127\.0\.0\.1:1/);
    const bad = await deja(['models', 'pull', '../etc', '--dir', join(work, 'y'), '--endpoint', urlOf(hub)]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /not a model name/);
  });
});

describe('deja embed --embedder remote', { skip: SKIP }, () => {
  let fake;
  before(async () => {
    fake = await startFake();
  });
  after(async () => {
    await fake?.stop();
  });

  test('prints the endpoint\'s vector, normalized', T, async () => {
    await fake.reset();
    const r = await deja(['embed', '--embedder', 'remote', '--url', fake.url, '--model', 'text-embedding-3-small',
      'how do I reverse a list?'], { OPENAI_API_KEY: 'sk-e2e' });
    assert.equal(r.code, 0, r.stderr);
    const got = JSON.parse(r.stdout);
    const want = Array.from(embeddingVector('text-embedding-3-small', 'how do I reverse a list?', 8));
    assert.equal(got.length, want.length);
    got.forEach((x, i) => assert.ok(Math.abs(x - want[i]) < 1e-6, `component ${i}: ${x} vs ${want[i]}`));
    assert.match(r.stderr, /remote: 8 dimensions/);
    const stats = await fake.stats();
    assert.equal(stats.calls['/v1/embeddings'], 1);
    assert.equal(stats.last_headers.authorization, 'Bearer sk-e2e');
  });

  test('errors are reported without the key; a wrong dimension is refused', T, async () => {
    const noKey = await deja(['embed', '--embedder', 'remote', '--url', fake.url, '--model', 'm', 'x'],
      { OPENAI_API_KEY: '' });
    assert.notEqual(noKey.code, 0);
    assert.match(noKey.stderr, /answered 401: Missing API key/);
    const wrong = await deja(['embed', '--embedder', 'remote', '--url', fake.url, '--model', 'm', '--dimensions', '16', 'x'],
      { OPENAI_API_KEY: 'sk-e2e' });
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /8-dimensional vectors, expected 16/);
    const down = await deja(['embed', '--embedder', 'remote', '--url', 'http://127.0.0.1:1', '--model', 'm', 'x']);
    assert.notEqual(down.code, 0);
    assert.match(down.stderr, /UNAVAILABLE: remote embedder: POST http:\/\/127\.0\.0\.1:1\/v1\/embeddings/);
  });
});
