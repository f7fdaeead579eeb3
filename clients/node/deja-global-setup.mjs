// Global setup for vitest or jest: runs `deja serve` in a test mode for the whole test run, on a
// free loopback port, and points OPENAI_BASE_URL and ANTHROPIC_BASE_URL at it, so the official SDKs
// (constructed without a baseURL) talk to deja. No dependencies; copy this file into your repository.
//
//   vitest.config.mjs:  export default { test: { globalSetup: ['./deja-global-setup.mjs'] } }
//   jest.config.mjs:    export default { globalSetup: './deja-global-setup.mjs',
//                                        globalTeardown: './deja-global-teardown.mjs' }
//   deja-global-teardown.mjs:  export { teardown as default } from './deja-global-setup.mjs';
//
// Environment:
//   DEJA_CASSETTE      the cassette file (default: tests/deja-cassette.json)
//   DEJA_MODE          replay (default), record or record-missing; DEJA_RECORD=1 means record
//   DEJA_BIN           the deja binary (default: `deja` on PATH)
//   DEJA_UPSTREAM, DEJA_ANTHROPIC_UPSTREAM   where record modes send requests (default: the
//                      providers' public APIs)
//   DEJA_USED_LOG      append the keys of the records used to this file (for `deja cassette prune`)
//
// In replay mode nothing reaches a provider, so no real API key is needed: OPENAI_API_KEY and
// ANTHROPIC_API_KEY are set to placeholders when unset (the SDKs insist on one).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;
const ENV_KEYS = ['OPENAI_BASE_URL', 'ANTHROPIC_BASE_URL', 'OPENAI_API_KEY', 'ANTHROPIC_API_KEY'];

// One server per process; globalThis so that jest's separate setup and teardown modules share it.
const STATE = Symbol.for('deja.global-setup');

export async function setup() {
  if (globalThis[STATE]) return;
  const env = process.env;
  const mode = env.DEJA_RECORD === '1' ? 'record' : env.DEJA_MODE || 'replay';
  const args = ['serve', '--listen', '127.0.0.1:0', '--mode', mode,
    '--cassette', env.DEJA_CASSETTE || 'tests/deja-cassette.json'];
  if (env.DEJA_UPSTREAM) args.push('--upstream', env.DEJA_UPSTREAM);
  if (env.DEJA_ANTHROPIC_UPSTREAM) args.push('--anthropic-upstream', env.DEJA_ANTHROPIC_UPSTREAM);
  if (env.DEJA_USED_LOG) args.push('--used-log', env.DEJA_USED_LOG);

  const child = spawn(env.DEJA_BIN || 'deja', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr = [];
  createInterface({ input: child.stderr }).on('line', (line) => {
    stderr.push(line);
    if (stderr.length > 50) stderr.shift();
  });
  // 'close', not 'exit': it fires after stderr is read to its end, so a failure report carries
  // deja's last words.
  const exited = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  const url = await new Promise((resolve, reject) => {
    const fail = (why) => reject(new Error(`deja serve ${why}\n${stderr.join('\n')}`));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(`printed no listening line within ${START_TIMEOUT_MS} ms`);
    }, START_TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      fail(`could not start: ${err.message} (set DEJA_BIN)`);
    });
    exited.then(({ code }) => {
      clearTimeout(timer);
      fail(`exited with code ${code}`);
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /^deja listening on (\S+)$/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(`http://${m[1]}`);
      }
    });
  });

  const saved = Object.fromEntries(ENV_KEYS.map((k) => [k, env[k]]));
  env.OPENAI_BASE_URL = `${url}/v1`;
  env.ANTHROPIC_BASE_URL = url;
  if (mode === 'replay') {
    env.OPENAI_API_KEY ??= 'sk-deja-replay';
    env.ANTHROPIC_API_KEY ??= 'sk-ant-deja-replay';
  }
  globalThis[STATE] = { child, exited, saved, stderr, url, mode };
}

// Stops deja (SIGTERM: it finishes in-flight requests, and every recording is already on disk) and
// restores the environment. Rejects if deja did not exit cleanly.
export async function teardown() {
  const s = globalThis[STATE];
  if (!s) return;
  delete globalThis[STATE];
  for (const [k, v] of Object.entries(s.saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGTERM');
  let timer;
  const late = new Promise((resolve) => {
    timer = setTimeout(() => resolve(null), STOP_TIMEOUT_MS);
  });
  const result = await Promise.race([s.exited, late]);
  clearTimeout(timer);
  if (result === null) {
    s.child.kill('SIGKILL');
    throw new Error(`deja did not stop within ${STOP_TIMEOUT_MS} ms`);
  }
  if (result.code !== 0) {
    throw new Error(`deja exited with code ${result.code}, signal ${result.signal}\n${s.stderr.join('\n')}`);
  }
}

// The running server ({url, mode}) or null, for tests that want to assert on it.
export function dejaServer() {
  const s = globalThis[STATE];
  return s ? { url: s.url, mode: s.mode } : null;
}

export default setup;
