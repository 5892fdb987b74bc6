// `diffill train` arguments -> a checked request -> the trainer's command line, and the errors a
// user sees for bad input (before any Python starts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseTrainArgs } from '../../server/src/commands/train';
import { UsageError } from '../../server/src/command';
import { buildTrainerArgs, checkTrainRequest } from '../../server/training/orchestrator';
import { TrainerError } from '../../server/training/trainer-error';

const ROOT = path.resolve(__dirname, '../..');

test('arguments become a request and then the trainer command line', () => {
  const req = parseTrainArgs(['--preset', 'tiny', '--data', 'corpus', '--out', 'models/x', '--steps', '40', '--seed', '7', '--device', 'cpu', '--resume']);
  assert.deepEqual(req.budget, { steps: 40 });
  assert.equal(req.seed, 7);
  assert.equal(req.resume, true);
  assert.deepEqual(buildTrainerArgs(req, '/work'), [
    '--preset', 'tiny', '--out', '/work/models/x', '--data', '/work/corpus', '--device', 'cpu', '--steps', '40', '--resume', '--seed', '7',
  ]);
  const finetune = parseTrainArgs(['--preset', 'small', '--facts', 'facts.txt', '--init', 'models/default', '--out', '/abs/out', '--minutes', '2.5']);
  assert.deepEqual(buildTrainerArgs(finetune, '/w'), [
    '--preset', 'small', '--out', '/abs/out', '--minutes', '2.5', '--init', '/w/models/default', '--facts', '/w/facts.txt',
  ]);
  assert.deepEqual(parseTrainArgs(['--preset', 'base', '--data', 'd', '--out', 'o', '--tokens', '1e6']).budget, { tokens: 1_000_000 });
});

test('malformed arguments are usage errors', () => {
  const bad: [string[], RegExp][] = [
    [['--data', 'd', '--out', 'o'], /--preset is required/],
    [['--preset', 'huge', '--data', 'd', '--out', 'o'], /unknown preset 'huge'/],
    [['--preset', 'tiny', '--data', 'd'], /--out DIR is required/],
    [['--preset', 'tiny', '--out', 'o'], /--data PATH is required/],
    [['--preset', 'tiny', '--data', 'd', '--out', 'o', '--steps', '10', '--tokens', '5'], /at most one of/],
    [['--preset', 'tiny', '--data', 'd', '--out', 'o', '--steps=-3'], /--steps needs a positive integer/],
    [['--preset', 'tiny', '--data', 'd', '--out', 'o', '--steps', '0'], /--steps needs a positive integer/],
    [['--preset', 'tiny', '--data', 'd', '--out', 'o', '--steps', '2.5'], /--steps needs a positive integer/],
    [['--preset', 'tiny', '--data', 'd', '--out', 'o', '--minutes', 'soon'], /--minutes needs a positive number/],
    [['--preset', 'tiny', '--data', 'd', '--out', 'o', '--seed=-1'], /--seed needs a non-negative integer/],
    [['--preset', 'tiny', '--data', 'd', '--out', 'o', '--device', 'tpu'], /unknown device 'tpu'/],
    [['--preset', 'tiny', '--data', 'd', '--out', 'o', '--bogus'], /^unknown option '--bogus' \(see diffill train --help\)$/],
    // A negative number after a flag reaches the value check (not Node's "ambiguous" message).
    [['--preset', 'tiny', '--data', 'd', '--out', 'o', '--steps', '-3'], /--steps needs a positive integer, got '-3'/],
  ];
  for (const [argv, message] of bad) assert.throws(() => parseTrainArgs(argv), (e: unknown) => e instanceof UsageError && message.test(e.message), argv.join(' '));
});

test('paths are checked before anything starts', () => {
  const base = { preset: 'tiny' as const, out: path.join(ROOT, 'no-such-out') };
  const kindOf = (f: () => void) => {
    try {
      f();
    } catch (e) {
      assert.ok(e instanceof TrainerError);
      return `${e.kind}: ${e.summary}`;
    }
    return 'ok';
  };
  assert.match(kindOf(() => checkTrainRequest({ ...base, data: 'no/such/corpus' }, ROOT)), /^bad_data: --data no\/such\/corpus: no such file/);
  assert.match(kindOf(() => checkTrainRequest({ ...base, data: 'README.md', init: 'README.md' }, ROOT)), /^bad_data: --init README\.md: not a model directory/);
  assert.match(kindOf(() => checkTrainRequest({ ...base, facts: 'docs' }, ROOT)), /^bad_data: --facts docs: not a file/);
  assert.match(kindOf(() => checkTrainRequest({ ...base, data: 'README.md', out: 'README.md' }, ROOT)), /^bad_arguments: --out README\.md exists and is not a directory/);
  assert.equal(kindOf(() => checkTrainRequest({ ...base, data: 'README.md', budget: { steps: 3 } }, ROOT)), 'ok');
});

test('the CLI reports a bad --data path in one line and exits 1', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'server/src/cli.ts', 'train', '--preset', 'tiny', '--data', 'no/such/corpus', '--out', 'unused'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  assert.equal(r.status, 1);
  assert.equal(r.stderr, 'diffill: --data no/such/corpus: no such file or directory\n');
  assert.equal(r.stdout, '');
});

test('an existing model is not overwritten without --force; --resume needs a checkpoint', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'diffill-train-out-'));
  try {
    const out = path.join(dir, 'model');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'config.json'), '{}');
    const req = { preset: 'tiny' as const, data: 'README.md', out };
    assert.throws(() => checkTrainRequest(req, ROOT), (e: unknown) => e instanceof TrainerError && e.kind === 'bad_arguments' && /already exists and is not empty; pass --force to replace it/.test(e.message));
    assert.doesNotThrow(() => checkTrainRequest({ ...req, force: true }, ROOT));
    assert.deepEqual(buildTrainerArgs({ ...req, force: true }).slice(-1), ['--force']);
    assert.ok(parseTrainArgs(['--preset', 'tiny', '--data', 'd', '--out', 'o', '--force']).force);
    // An empty folder is not a model: no --force needed.
    fs.mkdirSync(path.join(dir, 'empty'));
    assert.doesNotThrow(() => checkTrainRequest({ ...req, out: path.join(dir, 'empty') }, ROOT));

    const fresh = { ...req, out: path.join(dir, 'fresh'), resume: true };
    assert.throws(() => checkTrainRequest(fresh, ROOT), /--resume: no checkpoint at .*fresh\.ckpt to continue from/);
    fs.mkdirSync(path.join(dir, 'fresh.ckpt'));
    fs.writeFileSync(path.join(dir, 'fresh.ckpt', 'state.pt'), 'x');
    assert.doesNotThrow(() => checkTrainRequest(fresh, ROOT));
    // A deadline budget reaches the trainer as --until, in seconds since the epoch.
    assert.deepEqual(buildTrainerArgs({ ...req, budget: { until: 1_700_000_000_500 } }).slice(-2), ['--until', '1700000000.500']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('--objective reaches the trainer; a bad value is a one-line usage error with exit 2', () => {
  const req = parseTrainArgs(['--preset', 'tiny', '--data', 'corpus', '--out', 'o', '--objective', 'arm-fim']);
  assert.equal(req.objective, 'arm-fim');
  assert.deepEqual(buildTrainerArgs(req, '/w').slice(-2), ['--objective', 'arm-fim']);
  // Without the flag nothing is passed: the trainer's default (mdm) applies.
  assert.ok(!buildTrainerArgs(parseTrainArgs(['--preset', 'tiny', '--data', 'd', '--out', 'o']), '/w').includes('--objective'));
  assert.throws(() => checkTrainRequest({ preset: 'tiny', data: 'README.md', out: 'unused', objective: 'arm' as never }, ROOT),
    (e: unknown) => e instanceof TrainerError && e.kind === 'bad_arguments' && /unknown objective 'arm'/.test(e.message));
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'server/src/cli.ts', 'train', '--preset', 'tiny', '--data', 'README.md', '--out', 'unused', '--objective', 'arm'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  assert.equal(r.status, 2);
  assert.equal(r.stderr, "diffill: unknown objective 'arm' (use mdm, arm-fim)\n");
  assert.equal(r.stdout, '');
});
