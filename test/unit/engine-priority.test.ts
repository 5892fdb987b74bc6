// The scheduler's urgent requests (ghost text): they run before queued requests that are not urgent
// and take the session from a running one at its next checkpoint (between two forwards), which then
// resumes where it was. Driven by events: each job "runs forwards" by waiting at checkpoints.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AbortError } from '../../server/engine/errors';
import { checkpoint, Scheduler } from '../../server/engine/scheduler';

/** A job of `forwards` steps that logs each one and waits at a checkpoint before it, like the sampler. */
function job(log: string[], name: string, forwards: number, gate: Promise<void> = Promise.resolve()) {
  return async (signal: AbortSignal): Promise<string> => {
    for (let i = 0; i < forwards; i++) {
      await checkpoint(signal);
      if (signal.aborted) throw signal.reason;
      log.push(`${name}${i}`);
      await gate;
    }
    return name;
  };
}

/** Resolves once `log` has an entry `entry`. */
async function logged(log: string[], entry: string): Promise<void> {
  while (!log.includes(entry)) await new Promise((r) => setImmediate(r));
}

test('an urgent request runs at the running request\'s next checkpoint; the paused one resumes where it was', async () => {
  const s = new Scheduler();
  const log: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const long = s.run({}, job(log, 'fill', 3, gate));
  const queued = s.run({}, job(log, 'before', 1));
  await logged(log, 'fill0');
  const ghost = s.run({ urgent: true }, job(log, 'ghost', 2));
  release();
  assert.deepEqual(await Promise.all([long, queued, ghost]), ['fill', 'before', 'ghost']);
  // ghost ran between fill's forwards, and fill finished before the request queued behind it.
  assert.deepEqual(log, ['fill0', 'ghost0', 'ghost1', 'fill1', 'fill2', 'before0']);
});

test('urgent requests run before queued ones that are not, in their own arrival order, and never pause each other', async () => {
  const s = new Scheduler();
  const log: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const first = s.run({ urgent: true }, job(log, 'u', 2, gate));
  const normal = s.run({}, job(log, 'n', 1));
  await logged(log, 'u0');
  const second = s.run({ urgent: true }, job(log, 'v', 1));
  release();
  await Promise.all([first, normal, second]);
  assert.deepEqual(log, ['u0', 'u1', 'v0', 'n0']);
});

test('a paused request that is cancelled unwinds at once and the next one runs', async () => {
  const s = new Scheduler();
  const log: string[] = [];
  let releaseFill!: () => void;
  const fillGate = new Promise<void>((r) => (releaseFill = r));
  let releaseGhost!: () => void;
  const ghostGate = new Promise<void>((r) => (releaseGhost = r));
  const cancel = new AbortController();
  const fill = s.run({ signal: cancel.signal }, job(log, 'fill', 3, fillGate));
  await logged(log, 'fill0');
  const ghost = s.run({ urgent: true }, job(log, 'ghost', 1, ghostGate));
  const after = s.run({}, job(log, 'next', 1));
  releaseFill();
  await logged(log, 'ghost0');
  // The fill waits at its checkpoint while the ghost text runs; cancelling it there ends it.
  cancel.abort();
  await assert.rejects(fill, AbortError);
  releaseGhost();
  assert.equal(await ghost, 'ghost');
  assert.equal(await after, 'next');
  assert.deepEqual(log, ['fill0', 'ghost0', 'next0']);
  await s.idle();
});

test('a checkpoint outside any scheduler (a direct sampler call) does not wait', async () => {
  await checkpoint(undefined);
  await checkpoint(new AbortController().signal);
});

test('two engines: a command on one waits at its checkpoints while ghost text runs on the other, then resumes', async () => {
  // The language server's two models (ghost text and commands) share the process's cores.
  const commands = new Scheduler();
  const ghostText = new Scheduler();
  const log: string[] = [];
  let releaseFill!: () => void;
  const fillGate = new Promise<void>((r) => (releaseFill = r));
  let releaseGhost!: () => void;
  const ghostGate = new Promise<void>((r) => (releaseGhost = r));
  const fill = commands.run({}, job(log, 'fill', 3, fillGate));
  await logged(log, 'fill0');
  const ghost = ghostText.run({ urgent: true }, job(log, 'ghost', 2, ghostGate));
  await logged(log, 'ghost0');
  releaseFill();
  // The fill's next forward waits for the ghost text, which is held at its gate: nothing more of the
  // fill runs meanwhile.
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  assert.deepEqual(log, ['fill0', 'ghost0']);
  releaseGhost();
  assert.deepEqual(await Promise.all([fill, ghost]), ['fill', 'ghost']);
  assert.deepEqual(log, ['fill0', 'ghost0', 'ghost1', 'fill1', 'fill2']);
  // A request that is not urgent never waits for another engine's request that is not urgent either.
  const log2: string[] = [];
  await Promise.all([commands.run({}, job(log2, 'a', 2)), ghostText.run({}, job(log2, 'b', 2))]);
  assert.equal(log2.length, 4);
});

test('two engines: a command waiting for the other engine\'s ghost text can be cancelled there', async () => {
  const commands = new Scheduler();
  const ghostText = new Scheduler();
  const log: string[] = [];
  let releaseGhost!: () => void;
  const ghostGate = new Promise<void>((r) => (releaseGhost = r));
  const ghost = ghostText.run({ urgent: true }, job(log, 'ghost', 1, ghostGate));
  await logged(log, 'ghost0');
  const cancel = new AbortController();
  const fill = commands.run({ signal: cancel.signal }, job(log, 'fill', 2));
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  assert.deepEqual(log, ['ghost0'], 'the fill waits at its first checkpoint');
  cancel.abort();
  await assert.rejects(fill, AbortError);
  releaseGhost();
  assert.equal(await ghost, 'ghost');
  assert.deepEqual(log, ['ghost0']);
  await commands.idle();
});
