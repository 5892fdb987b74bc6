// The orchestrator's protocol handling, against a real child process: test/fixtures/fake_trainer.py
// speaks docs/training-protocol.md and fails in each way a real trainer can.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { findPython } from '../../server/training/python';
import { runTrainer, parseEventLine, type TrainerEvent, type TrainerProcessOptions } from '../../server/training/trainer-process';
import { TrainerError } from '../../server/training/trainer-error';

const ROOT = path.resolve(__dirname, '../..');
const python = findPython({ root: ROOT, env: {} }).executable;

function fake(mode: string, extra: Partial<TrainerProcessOptions> = {}, args: string[] = []) {
  return runTrainer({ python, module: 'fake_trainer', pythonPath: path.join(ROOT, 'test/fixtures'), args: ['--mode', mode, ...args], ...extra });
}

async function failure(p: Promise<unknown>): Promise<TrainerError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof TrainerError, `expected a TrainerError, got ${String(err)}`);
    return err;
  }
  assert.fail('the run should have failed');
}

test('a successful run: events in order, split lines reassembled, stray stdout tolerated', async () => {
  const events: TrainerEvent[] = [];
  const logs: string[] = [];
  const run = await fake('ok', { onEvent: (e) => events.push(e), onLog: (l, stream) => logs.push(`${stream}: ${l}`) }, ['--steps', '4', '--out', 'm']);
  assert.deepEqual(events.map((e) => e.event), ['start', 'step', 'step', 'step', 'step', 'eval', 'checkpoint', 'export', 'export', 'export', 'done']);
  const losses = events.flatMap((e) => (e.event === 'step' ? [e.loss] : []));
  assert.deepEqual(losses, [5, 2.5, 5 / 3, 1.25]);
  assert.equal(run.done.model_dir, 'm');
  assert.equal(run.lastStep?.step, 4);
  assert.equal(run.start?.params, 1234);
  assert.deepEqual(run.evals[0]?.infill_exact, { cases: 8, oracle: 0.5, variable: 0.25 });
  // Unknown events (from a newer trainer) are logged, not fatal.
  assert.deepEqual(logs.sort(), ['stderr: loading data', 'stdout: a library wrote this to stdout', 'stdout: {"event": "event_from_the_future", "x": 1}']);
});

test('PYTHONPATH is prepended and output is unbuffered', async () => {
  const stderr: string[] = [];
  await fake('echo-env', { onLog: (l) => stderr.push(l), env: { ...process.env, PYTHONPATH: '/elsewhere' } }, ['--steps', '1']);
  assert.ok(stderr.includes(`pythonpath ${path.join(ROOT, 'test/fixtures')}:/elsewhere`), stderr.join('\n'));
  assert.ok(stderr.includes('unbuffered 1'));
  assert.ok(stderr.includes('argv ["--mode", "echo-env", "--steps", "1"]'));
});

test('an error event becomes its kind, with the message and the last stderr lines', async () => {
  const err = await failure(fake('error'));
  assert.equal(err.kind, 'bad_data');
  assert.match(err.summary, /no train\.bin in \/nowhere/);
  assert.deepEqual(err.lastLines, ['loading data', 'reading /nowhere/train.bin']);
  assert.match(err.message, /reading \/nowhere\/train\.bin/);
  assert.equal(err.exitCode, 1);
});

test('a crash (exit 3, no error event) is reported with its traceback', async () => {
  const err = await failure(fake('crash'));
  assert.equal(err.kind, 'crashed');
  assert.equal(err.exitCode, 3);
  assert.match(err.summary, /exited with code 3/);
  assert.equal(err.lastLines.at(-1), 'ZeroDivisionError: division by zero');
});

test('exit 0 without done is a failure', async () => {
  assert.equal((await failure(fake('no-done'))).kind, 'no_done');
});

test('done followed by a non-zero exit is a failure', async () => {
  const err = await failure(fake('done-then-fail'));
  assert.equal(err.kind, 'crashed');
  assert.equal(err.exitCode, 1);
});

test('a trainer killed by a signal is reported as killed', async () => {
  const err = await failure(fake('killed'));
  assert.equal(err.kind, 'killed');
  assert.equal(err.signal, 'SIGKILL');
  assert.match(err.summary, /SIGKILL/);
  assert.deepEqual(err.lastLines.at(-1), 'about to be killed');
});

test('abort sends SIGTERM, waits for the trainer, and reports cancelled', async () => {
  const controller = new AbortController();
  const t0 = Date.now();
  const err = await failure(fake('hang', { signal: controller.signal, onEvent: (e) => e.event === 'step' && controller.abort() }));
  assert.equal(err.kind, 'cancelled');
  assert.equal(err.exitCode, 130);
  assert.match(err.summary, /cancelled at step 1;/);
  assert.match(err.summary, /checkpoint of step 1 kept at fake-out\.ckpt: rerun with --resume/);
  assert.equal(err.lastLines.at(-1), 'SIGTERM: stopping at the next step');
  assert.ok(Date.now() - t0 < 30_000);
});

test('a trainer that ignores SIGTERM is killed after the grace period', async () => {
  const controller = new AbortController();
  const err = await failure(
    fake('hang-ignore-term', { signal: controller.signal, killGraceMs: 300, onEvent: (e) => e.event === 'step' && controller.abort() }),
  );
  assert.equal(err.kind, 'cancelled');
  assert.equal(err.signal, 'SIGKILL');
});

test('the force signal (a second Ctrl-C) kills at once', async () => {
  const controller = new AbortController();
  const force = new AbortController();
  const t0 = Date.now();
  const err = await failure(
    fake('hang-ignore-term', {
      signal: controller.signal,
      forceSignal: force.signal,
      killGraceMs: 60_000,
      onEvent: (e) => {
        if (e.event === 'step') {
          controller.abort();
          setTimeout(() => force.abort(), 100);
        }
      },
    }),
  );
  assert.equal(err.kind, 'cancelled');
  assert.equal(err.signal, 'SIGKILL');
  assert.ok(Date.now() - t0 < 30_000, 'waited for the grace period instead of killing');
});

test('an already aborted signal never starts the trainer', async () => {
  const err = await failure(fake('ok', { signal: AbortSignal.abort() }));
  assert.equal(err.kind, 'cancelled');
});

test('a missing interpreter is missing_python', async () => {
  const err = await failure(runTrainer({ python: path.join(ROOT, 'no-such-python'), pythonPath: ROOT, args: [] }));
  assert.equal(err.kind, 'missing_python');
  assert.match(err.summary, /no-such-python/);
});

test('parseEventLine accepts protocol objects only', () => {
  assert.deepEqual(parseEventLine('{"event":"eval","step":3,"val_loss":null}'), { event: 'eval', step: 3, val_loss: null });
  assert.equal(parseEventLine('{"event":"nonsense"}'), undefined);
  assert.equal(parseEventLine('{"event":'), undefined);
  assert.equal(parseEventLine('[1,2]'), undefined);
  assert.equal(parseEventLine('loss 3.2'), undefined);
  assert.equal(parseEventLine(''), undefined);
});
