// The one test command (`npm test`): type-check, build, TypeScript unit/integration tests (node's
// test runner), Python trainer tests (pytest), and the end-to-end test in a real VS Code (code-server).
// Prints one closing line `N passed, N failed` summed over all runners, and exits non-zero on any failure.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const python = join(root, '.venv', 'bin', 'python');
const skipE2E = process.env.DIFFILL_SKIP_E2E === '1';

function step(cmd, args, env = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  return r.status === 0;
}

/** Runs a test runner, echoing its output, and returns [passed, failed] read from its summary. */
function runCounted(label, cmd, args, parse, env = {}) {
  return new Promise((resolve) => {
    console.log(`\n=== ${label}`);
    const child = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; process.stdout.write(d); });
    child.stderr.on('data', (d) => { out += d; process.stderr.write(d); });
    child.on('close', (code) => {
      let [passed, failed] = parse(out);
      // A runner that crashed or printed no summary is a failure, never a silent pass.
      if (code !== 0 && failed === 0) failed = 1;
      resolve([passed, failed]);
    });
  });
}

const num = (re, s) => { const m = s.match(re); return m ? Number(m[1]) : 0; };

let passed = 0;
let failed = 0;
const tally = ([p, f]) => { passed += p; failed += f; };

if (!existsSync(python) || spawnSync(python, ['-c', 'import torch, onnx, onnxruntime, tokenizers, safetensors'], { cwd: root }).status !== 0) {
  console.log('=== Python environment missing: running npm run setup:python');
  if (!step('node', ['scripts/setup-python.mjs'])) process.exit(1);
}

console.log('=== typecheck');
if (!step('npx', ['tsc', '-p', 'tsconfig.json', '--noEmit'])) tally([0, 1]);
console.log('=== build');
if (!step('node', ['scripts/build.mjs'])) { console.log('0 passed, 1 failed'); process.exit(1); }

const unitFiles = readdirSync(join(root, 'test', 'unit')).filter((f) => f.endsWith('.test.ts')).sort().map((f) => join('test', 'unit', f));
tally(await runCounted('TypeScript tests', 'node', ['--import', 'tsx', '--test', '--test-concurrency=1', ...unitFiles],
  (s) => [num(/^# pass (\d+)/m, s), num(/^# fail (\d+)/m, s)]));

tally(await runCounted('Python tests', python, ['-m', 'pytest', '-q', 'server/training/python/tests'],
  (s) => [num(/(\d+) passed/, s), num(/(\d+) failed/, s) + num(/(\d+) error/, s)]));

if (skipE2E) {
  console.log('\n=== end-to-end (code-server) skipped: DIFFILL_SKIP_E2E=1');
} else {
  tally(await runCounted('End-to-end (code-server + Chromium)', 'node', ['test/e2e/run.mjs'],
    (s) => [num(/^(\d+) passed, \d+ failed/m, s), num(/^\d+ passed, (\d+) failed/m, s)]));
}

console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
