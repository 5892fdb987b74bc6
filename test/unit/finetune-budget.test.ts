// `diffill finetune` limits and checks: --minutes bounds the whole job (a limit too short to train is
// refused, with nothing installed), a store that cannot be written fails before any work, and
// --seq-len / --lr are checked against what the trainer and the base model accept.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CommandError, UsageError } from '../../server/src/command';
import { command as finetuneCommand, parseFinetuneArgs } from '../../server/src/commands/finetune';
import { finetune, FinetuneError } from '../../server/training/finetune';
import { ModelStore } from '../../server/training/model-store';
import { ROOT, tinyModelDir } from '../helpers/tiny-model';

const WORKSPACE = join(ROOT, 'test', 'fixtures', 'workspace');
const scratch = mkdtempSync(join(tmpdir(), 'diffill-ft-budget-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

test('--minutes is the whole job: a limit that leaves no time to train is refused, nothing installed', async () => {
  process.env['OMP_NUM_THREADS'] = '1';
  const base = tinyModelDir();
  const store = await ModelStore.open(join(scratch, 'store'), { baseModelDir: base, workspace: WORKSPACE });
  const phases: string[] = [];
  // A limit far below what measuring one model takes: the job stops while measuring the base model
  // (before any training), or right after it, with the minutes it would need.
  await assert.rejects(
    finetune({ workspace: WORKSPACE, base, jobMinutes: 1e-6, device: 'cpu', evalWindows: 1, evalCases: 0 }, store, { onPhase: (p) => void phases.push(p) }),
    (err: unknown) => {
      assert.ok(err instanceof FinetuneError && err.kind === 'over_budget', String(err));
      assert.match(err.message, /minute limit (ran out while measuring the base model|leaves no time to train)/);
      return true;
    },
  );
  assert.ok(!phases.includes('train'), `no training may start: ${phases.join(', ')}`);
  assert.deepEqual(await store.list(), []);
  assert.equal((await store.active()).source, 'base');
});

test('--minutes becomes the job limit; --steps a training budget; --lr and --seq-len are checked', async () => {
  assert.deepEqual(parseFinetuneArgs(['--workspace', WORKSPACE, '--minutes', '3']).request.jobMinutes, 3);
  const steps = parseFinetuneArgs(['--workspace', WORKSPACE, '--steps', '5']).request;
  assert.deepEqual([steps.budget, steps.jobMinutes], [{ steps: 5 }, undefined]);
  assert.equal(parseFinetuneArgs(['--workspace', WORKSPACE, '--lr', '1e-3']).request.lr, 1e-3);
  for (const [argv, message] of [
    [['--lr', '0'], /^--lr must be above 0/],
    [['--lr', '-1e-3'], /^--lr must be a number from 0 to 1 \(got '-1e-3'\)$/],
    [['--seq-len', '1'], /^--seq-len must be an integer from 2/],
    [['--seq-len', '64', '--facts', 'f.txt'], /^--seq-len does not apply with --facts/],
  ] as Array<[string[], RegExp]>) {
    assert.throws(() => parseFinetuneArgs(['--workspace', WORKSPACE, ...argv]), (e: unknown) => e instanceof UsageError && message.test(e.message), argv.join(' '));
  }
  // The upper end is the base model's max_position, checked before any work.
  await assert.rejects(
    finetuneCommand.run(['--workspace', WORKSPACE, '--out', join(scratch, 'store2'), '--base', join(ROOT, 'models', 'default'), '--seq-len', '4096']),
    /^UsageError: --seq-len must be from 2 to 512, the base model's max_position \(got '4096'\)$/,
  );
});

test('a model store that cannot be written fails at once, in one line', async () => {
  // The store's folder is a file: nothing can be created in it, for root too.
  const file = join(scratch, 'a-file');
  writeFileSync(file, '');
  await assert.rejects(finetuneCommand.run(['--workspace', WORKSPACE, '--out', join(file, 'store'), '--steps', '1']), /cannot create the model store .*a-file\/store/);
  // A read-only store (permissions bind only a user other than root).
  if (process.getuid?.() !== 0) {
    const ro = join(scratch, 'ro-store');
    await ModelStore.open(ro, { workspace: WORKSPACE });
    chmodSync(ro, 0o555);
    try {
      await assert.rejects(finetuneCommand.run(['--workspace', WORKSPACE, '--out', ro, '--steps', '1']), (err: unknown) => {
        assert.ok(err instanceof CommandError);
        assert.match(err.message, /^the model store .*ro-store is not writable \(EACCES\); choose another --out$/);
        return true;
      });
    } finally {
      chmodSync(ro, 0o755);
    }
  }
  // The job itself: a store whose folder went away under it gives a typed error, not a crash.
  const gone = await ModelStore.open(join(scratch, 'gone'), { workspace: WORKSPACE });
  rmSync(gone.root, { recursive: true });
  writeFileSync(gone.root, '');
  await assert.rejects(
    finetune({ workspace: WORKSPACE, base: join(ROOT, 'models', 'default'), budget: { steps: 1 } }, gone),
    (err: unknown) => err instanceof FinetuneError && err.kind === 'bad_request' && /cannot write in the model store .*gone \(ENOTDIR\)/.test(err.message),
  );
});
