import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AbortError } from '../../server/engine/errors';
import { Scheduler } from '../../server/engine/scheduler';

/**
 * A job that "runs forwards" until released, checking its signal between them like the sampler.
 * `started` resolves when it begins, so a test waits for that event instead of for time to pass.
 */
function job(log: string[], name: string, gate: Promise<void>, started?: () => void) {
  return async (signal: AbortSignal): Promise<string> => {
    log.push(`start ${name}`);
    started?.();
    for (let i = 0; i < 3; i++) {
      await gate;
      if (signal.aborted) throw signal.reason;
      await new Promise((r) => setImmediate(r));
    }
    log.push(`end ${name}`);
    return name;
  };
}

test('requests run one at a time in arrival order', async () => {
  const s = new Scheduler();
  const log: string[] = [];
  const results = await Promise.all([s.run({}, job(log, 'a', Promise.resolve())), s.run({}, job(log, 'b', Promise.resolve()))]);
  assert.deepEqual(results, ['a', 'b']);
  assert.deepEqual(log, ['start a', 'end a', 'start b', 'end b']);
});

test('preempt aborts older queued and running requests of the same group only', async () => {
  const s = new Scheduler();
  const log: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let aStarted!: () => void;
  const aRunning = new Promise<void>((r) => (aStarted = r));
  const a = s.run({ group: 'doc1' }, job(log, 'a', gate, aStarted));
  const b = s.run({ group: 'doc1' }, job(log, 'b', gate));
  const other = s.run({ group: 'doc2' }, job(log, 'other', gate));
  // a is running (b and other are queued) when c pre-empts: both kinds of abort are exercised.
  await aRunning;
  assert.deepEqual(log, ['start a']);
  const c = s.run({ group: 'doc1', preempt: true }, job(log, 'c', Promise.resolve()));
  release();
  await assert.rejects(a, AbortError);
  await assert.rejects(b, (e: unknown) => e instanceof AbortError && /pre-empted/.test(e.message));
  assert.equal(await other, 'other');
  assert.equal(await c, 'c');
  assert.ok(!log.includes('start b'));
  assert.ok(!log.includes('end a'));
});

test("the caller's AbortSignal cancels a queued or running request", async () => {
  const s = new Scheduler();
  const log: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const ca = new AbortController();
  const cb = new AbortController();
  const a = s.run({ signal: ca.signal }, job(log, 'a', gate));
  const b = s.run({ signal: cb.signal }, job(log, 'b', gate));
  cb.abort();
  await assert.rejects(b, AbortError);
  ca.abort();
  release();
  await assert.rejects(a, AbortError);
  const pre = new AbortController();
  pre.abort();
  await assert.rejects(s.run({ signal: pre.signal }, job(log, 'x', Promise.resolve())), AbortError);
  assert.deepEqual(log, ['start a']);
});
