// The one test command (`npm test`): type-check, build, TypeScript unit/integration tests (node's
// test runner), Python trainer tests (pytest), and the end-to-end test in a real VS Code (code-server).
// Prints one closing line `N passed, N failed, N skipped` summed over all runners, lists every skipped
// test with its reason, and exits non-zero on any failure. In CI (CI=true) a skipped end-to-end suite
// (DIFFILL_SKIP_E2E=1) or a golden-file rewrite (UPDATE_GOLDEN=1) is a failure: either would let a
// run pass without checking what it claims to.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ciRefusals, countNodeEvents, countPytest, countE2E } from './test-counts.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const python = join(root, '.venv', 'bin', 'python');
const skipE2E = process.env.DIFFILL_SKIP_E2E === '1';

function step(cmd, args, env = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  return r.status === 0;
}

/**
 * Runs a test runner, echoing its output, and resolves to its counts. `count(output)` reads the
 * runner's own summary; a runner that exits non-zero with no failure counted is one failure, never a
 * silent pass.
 */
function runCounted(label, cmd, args, count, env = {}) {
  return new Promise((resolve) => {
    console.log(`\n=== ${label}`);
    const child = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; process.stdout.write(d); });
    child.stderr.on('data', (d) => { out += d; process.stderr.write(d); });
    child.on('close', (code) => {
      const c = count(out);
      if (code !== 0 && c.failed === 0) {
        c.failed = 1;
        c.notes.push(`${label}: exited with code ${code} and no failed test counted`);
      }
      resolve(c);
    });
  });
}

const total = { passed: 0, failed: 0, skipped: 0, skips: [], notes: [] };
const tally = (label, c) => {
  total.passed += c.passed;
  total.failed += c.failed;
  total.skipped += c.skipped;
  total.skips.push(...c.skips.map((s) => ({ ...s, runner: label })));
  total.notes.push(...c.notes);
};
const fail = (note) => { total.failed += 1; total.notes.push(note); };

for (const refusal of ciRefusals(process.env)) fail(refusal);

if (!existsSync(python) || spawnSync(python, ['-c', 'import torch, onnx, onnxruntime, tokenizers, safetensors, sentencepiece'], { cwd: root }).status !== 0) {
  console.log('=== Python environment missing: running npm run setup:python');
  if (!step('node', ['scripts/setup-python.mjs'])) process.exit(1);
}

console.log('=== typecheck');
if (!step('npx', ['tsc', '-p', 'tsconfig.json', '--noEmit'])) fail('typecheck failed');
console.log('=== build');
if (!step('node', ['scripts/build.mjs'])) { console.log('0 passed, 1 failed, 0 skipped (the build failed)'); process.exit(1); }

// The spec reporter is for people; the counts come from a reporter of our own that writes the
// runner's events as JSON lines, so they do not depend on which reporter a Node version defaults to.
const scratch = mkdtempSync(join(tmpdir(), 'diffill-test-'));
const eventsFile = join(scratch, 'events.jsonl');
const unitFiles = readdirSync(join(root, 'test', 'unit')).filter((f) => f.endsWith('.test.ts')).sort().map((f) => join('test', 'unit', f));
tally('TypeScript', await runCounted('TypeScript tests', 'node', [
  '--import', 'tsx', '--test', '--test-concurrency=1',
  '--test-reporter=spec', '--test-reporter-destination=stdout',
  `--test-reporter=${join(root, 'scripts', 'test-events.mjs')}`, `--test-reporter-destination=${eventsFile}`,
  ...unitFiles,
], () => countNodeEvents(existsSync(eventsFile) ? readFileSync(eventsFile, 'utf8') : '', (f) => relative(root, f))));
rmSync(scratch, { recursive: true, force: true });

// -rs lists each skipped test with its reason in the short summary, which countPytest reads.
tally('Python', await runCounted('Python tests', python, ['-m', 'pytest', '-q', '-rs', 'server/training/python/tests'], countPytest));

if (skipE2E) {
  console.log('\n=== end-to-end (code-server) skipped: DIFFILL_SKIP_E2E=1');
  tally('end-to-end', { passed: 0, failed: 0, skipped: 1, skips: [{ name: 'the whole suite', reason: 'DIFFILL_SKIP_E2E=1' }], notes: [] });
} else {
  tally('end-to-end', await runCounted('End-to-end (code-server + Chromium)', 'node', ['test/e2e/run.mjs'], countE2E));
}

if (total.skips.length > 0) {
  console.log('\nSkipped:');
  for (const s of total.skips) console.log(`  ${s.runner}: ${s.file ? `${s.file}: ` : ''}${s.name} (${s.reason})`);
}
if (total.notes.length > 0) {
  console.log('\nFailures outside a test:');
  for (const n of total.notes) console.log(`  ${n}`);
}
console.log(`\n${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exit(total.failed === 0 && total.passed > 0 ? 0 : 1);
