// The closing line of `npm test` (scripts/test.mjs) comes from each runner's own counts: these tests
// run the real runners (this Node's test runner, the project's pytest) on small files whose outcome is
// known, and check that the counts and the skip reasons read from them are right.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { python } from '../helpers/tiny-model';

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
  skips: Array<{ file?: string; name: string; reason: string }>;
  notes: string[];
}
interface CountsModule {
  isCI(env: NodeJS.ProcessEnv): boolean;
  ciRefusals(env: NodeJS.ProcessEnv): string[];
  countNodeEvents(jsonl: string, nameFile?: (f: string) => string): Counts;
  countPytest(out: string): Counts;
  countE2E(out: string): Counts;
}
// An ES module without type declarations, imported by URL (see package-vsix.test.ts).
const SCRIPTS = path.resolve(__dirname, '../../scripts');
const load = () => import(pathToFileURL(path.join(SCRIPTS, 'test-counts.mjs')).href) as Promise<CountsModule>;

const NODE_TESTS = `
import { test, describe } from 'node:test';
test('plain pass', () => {});
test('skipped up front', { skip: 'needs /proc' }, () => {});
test('skipped inside', (t) => { t.skip('git is not installed'); });
describe('a suite', () => {
  test('nested pass', () => {});
  test('nested skip', (t) => t.skip());
});
test('parent', async (t) => { await t.test('child', () => {}); });
test('a failure', () => { throw new Error('expected'); });
test('not yet', { todo: 'later' }, () => {});
`;

test("Node's test runner: the counts and skip reasons are the runner's own, whatever its default reporter", async () => {
  const { countNodeEvents } = await load();
  const dir = mkdtempSync(path.join(tmpdir(), 'diffill-runner-'));
  try {
    writeFileSync(path.join(dir, 'sample.test.mjs'), NODE_TESTS);
    const events = path.join(dir, 'events.jsonl');
    // The same reporters scripts/test.mjs asks for, plus TAP, whose summary is the runner's own count.
    const r = spawnSync(
      process.execPath,
      ['--test', '--test-reporter=tap', '--test-reporter-destination=stdout', `--test-reporter=${path.join(SCRIPTS, 'test-events.mjs')}`, `--test-reporter-destination=${events}`, 'sample.test.mjs'],
      // Without NODE_TEST_CONTEXT: set by the runner running this file, it would make the child talk to
      // that runner instead of printing its own reports.
      { cwd: dir, encoding: 'utf8', env: { ...process.env, NODE_TEST_CONTEXT: undefined } },
    );
    assert.equal(r.status, 1, `one test fails\n${r.stdout}${r.stderr}`);
    const tap = (key: string) => Number(new RegExp(`^# ${key} (\\d+)$`, 'm').exec(r.stdout)![1]);
    const c = countNodeEvents(readFileSync(events, 'utf8'), (f) => path.basename(f));
    // plain pass, nested pass, child, parent / a failure / three skips and one todo.
    assert.deepEqual([c.passed, c.failed, c.skipped], [4, 1, 4]);
    assert.deepEqual([c.passed, c.failed, c.skipped], [tap('pass'), tap('fail') + tap('cancelled'), tap('skipped') + tap('todo')]);
    assert.deepEqual(
      c.skips.map((s) => `${s.file}: ${s.name} (${s.reason})`),
      [
        'sample.test.mjs: skipped up front (needs /proc)',
        'sample.test.mjs: skipped inside (git is not installed)',
        'sample.test.mjs: nested skip (no reason given)',
        'sample.test.mjs: not yet (later (todo))',
      ],
    );
    assert.deepEqual(c.notes, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a runner that printed no summary counts as a failure', async () => {
  const { countNodeEvents, countPytest, countE2E } = await load();
  assert.equal(countNodeEvents('').failed, 1);
  assert.equal(countPytest('Traceback (most recent call last):\n').failed, 1);
  assert.equal(countE2E('e2e harness error\n').failed, 1);
  assert.deepEqual(countE2E('log\n7 passed, 1 failed\n'), { passed: 7, failed: 1, skipped: 0, skips: [], notes: [] });
});

test('pytest: counts from its closing line, skips with their reasons from -rs', async (t) => {
  const py = python();
  if (spawnSync(py, ['-c', 'import pytest'], { encoding: 'utf8' }).status !== 0) {
    t.skip('no Python with pytest (npm run setup:python)');
    return;
  }
  const { countPytest } = await load();
  const dir = mkdtempSync(path.join(tmpdir(), 'diffill-pytest-'));
  try {
    writeFileSync(
      path.join(dir, 'test_sample.py'),
      [
        'import pytest',
        'def test_pass(): pass',
        'def test_pass_too(): pass',
        'def test_fail(): assert False',
        '@pytest.mark.skip(reason="needs CUDA")',
        'def test_skip(): pass',
        '@pytest.mark.skipif(True, reason="no .venv")',
        'def test_skipif(): pass',
        '@pytest.fixture',
        'def broken(): raise RuntimeError("x")',
        'def test_error(broken): pass',
        '',
      ].join('\n'),
    );
    const r = spawnSync(py, ['-m', 'pytest', '-q', '-rs', '-p', 'no:cacheprovider', 'test_sample.py'], { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 1, r.stdout);
    const c = countPytest(r.stdout);
    assert.deepEqual([c.passed, c.failed, c.skipped], [2, 2, 2], r.stdout);
    assert.deepEqual(c.skips.map((s) => `${s.file}: ${s.reason}`).sort(), ['test_sample.py: needs CUDA', 'test_sample.py: no .venv']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('CI refuses a skipped end-to-end suite and a golden-file rewrite; a developer may do both', async () => {
  const { ciRefusals, isCI } = await load();
  assert.equal(isCI({ CI: 'true' }), true);
  assert.equal(isCI({ CI: 'false' }), false);
  assert.equal(isCI({}), false);
  assert.deepEqual(ciRefusals({ DIFFILL_SKIP_E2E: '1', UPDATE_GOLDEN: '1' }), []);
  const refused = ciRefusals({ CI: 'true', DIFFILL_SKIP_E2E: '1', UPDATE_GOLDEN: '1' });
  assert.equal(refused.length, 2);
  assert.match(refused[0]!, /DIFFILL_SKIP_E2E=1 in CI/);
  assert.match(refused[1]!, /UPDATE_GOLDEN=1 in CI/);
});
