// `deja eval semantic` through the real binary: the raw curve (verification off) and a run with the
// vCache bound on, its report files, and the errors a user can make.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DIRECT, runDeja } from './helpers.mjs';

const SKIP = DIRECT ? 'needs the deja binary (DIRECT=1)' : false;
const T = { timeout: 120_000, skip: SKIP };

describe('deja eval semantic', { skip: SKIP }, () => {
  let dir;
  let pairs;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'deja-eval-e2e-'));
    // 120 rewordings with the same answer (label 1), then 20 look-alikes with different answers.
    const lines = [];
    for (let i = 0; i < 120; i++) {
      const n = 1000 + i;
      lines.push({ a: `What is the status of order ${n} in the warehouse?`,
                   b: `what is the status of order ${n} in the warehouse`, label: 1 });
    }
    for (let i = 0; i < 20; i++) {
      lines.push({ a: `How do I bake bread number ${i} at home?`,
                   b: `How do I bake bread number ${i} at the office?`, label: 0 });
    }
    pairs = join(dir, 'pairs.jsonl');
    await writeFile(pairs, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  test('verification off: the raw curve, in a table and a JSON report', T, async () => {
    const report = join(dir, 'raw.json');
    const r = await runDeja(['eval', 'semantic', '--pairs', pairs, '--limit', '0', '--context', 'isolated',
      '--thresholds', '0.5:0.95:0.05', '--report', report, '--work-dir', dir, '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /vCache verification off/);
    assert.match(r.stdout, /threshold\s+hit rate\s+false\/hit/);
    const doc = JSON.parse(await readFile(report, 'utf8'));
    assert.equal(doc.pairs, 140);
    assert.equal(doc.false_hit_bound, 'off');
    const run = doc.runs[0];
    assert.equal(run.context, 'isolated');
    assert.equal(run.curve.length, 10);
    // Every rewording is found at 0.5; the look-alikes that reach 0.5 are false hits.
    const low = run.curve[0];
    assert.ok(low.hits >= 120, JSON.stringify(low));
    assert.equal(low.hits - low.false_hits, 120);
  });

  test('with the bound on, nothing is served before the evidence and nothing served is wrong', T, async () => {
    const report = join(dir, 'served.json');
    const r = await runDeja(['eval', 'semantic', '--pairs', pairs, '--limit', '0', '--context', 'isolated',
      '--thresholds', '0.5', '--max-false-hit-rate', '0.05', '--audit-rate', '0', '--report', report,
      '--work-dir', dir, '--quiet', '--seed', '7']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /vCache bound 0\.05 on served/);
    const run = JSON.parse(await readFile(report, 'utf8')).runs[0];
    assert.equal(run.false_hit_bound, 'served');
    assert.equal(run.curve, undefined);
    assert.equal(run.verified.false_hits, 0);
    assert.ok(run.verified.served >= 20, JSON.stringify(run.verified));
    assert.ok(run.verified.verified >= 70, JSON.stringify(run.verified));
    assert.equal(run.verified_by_quarter.length, 4);
    assert.equal(run.verified_by_quarter[0].served, 0);  // learning first
    assert.equal(run.counts.pooled_observations, run.verified.verified);
  });

  test('mistakes get a clear error and exit 1', T, async () => {
    const missing = await runDeja(['eval', 'semantic', '--pairs', join(dir, 'none.jsonl')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot open/);
    const twoThresholds = await runDeja(['eval', 'semantic', '--pairs', pairs, '--max-false-hit-rate', '0.05',
      '--thresholds', '0.7,0.8']);
    assert.equal(twoThresholds.code, 1);
    assert.match(twoThresholds.stderr, /give one threshold/);
    const badBound = await runDeja(['eval', 'semantic', '--pairs', pairs, '--false-hit-bound', 'sometimes']);
    assert.notEqual(badBound.code, 0);
    assert.match(badBound.stderr, /false-hit-bound/);
    const badRate = await runDeja(['eval', 'semantic', '--pairs', pairs, '--max-false-hit-rate', '0']);
    assert.equal(badRate.code, 1);
    assert.match(badRate.stderr, /max-false-hit-rate must be in/);
  });
});
