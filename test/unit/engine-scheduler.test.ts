import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AbortError } from '../../server/engine/errors';
import { Scheduler } from '../../server/engine/scheduler';

/** A job that "runs forwards" until released, checking its signal between them like the sampler. */
function job(log: string[], name: string, gate: Promise<void>) {
  return async (signal: AbortSignal): Promise<string> => {
    log.push(`start ${name}`);
    for (let i = 0; i < 3; i++) {
      await gate;
      if (signal.aborted) throw signal.reason;
      await new Promise((r) => setTimeout(r, 1));
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
  const a = s.run({ group: 'doc1' }, job(log, 'a', gate));
  const b = s.run({ group: 'doc1' }, job(log, 'b', gate));
  const other = s.run({ group: 'doc2' }, job(log, 'other', gate));
  await new Promise((r) => setTimeout(r, 5));
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
