import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Prng } from '../../server/engine/prng';
import { advanceScan, chooseGreedy, chooseSampled, startScan, tokenProbability } from '../../server/engine/scoring';

function softmax(row: number[], mask: number): number[] {
  const max = Math.max(...row.filter((_, i) => i !== mask));
  const e = row.map((x, i) => (i === mask ? 0 : Math.exp(x - max)));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

test('greedy: argmax without the mask id, ties to the lowest id, confidence = max softmax prob', () => {
  const row = Float32Array.from([1, 3, 2, 9, 3]);
  const c = chooseGreedy(row, 3);
  assert.equal(c.token, 1);
  assert.ok(Math.abs(c.confidence - softmax([1, 3, 2, 9, 3], 3)[1]!) < 1e-15);
});

test('greedy confidence ignores only negligible terms (within float64 rounding)', () => {
  const row = Float32Array.from([0, -49, -51, -1e9, -200, 0.5]);
  const c = chooseGreedy(row, 3);
  assert.equal(c.token, 5);
  const exact = softmax(Array.from(row), 3)[5]!;
  assert.ok(Math.abs(c.confidence - exact) < 1e-15, `${c.confidence} vs ${exact}`);
  assert.ok(Math.abs(tokenProbability(row, 3, 0) - softmax(Array.from(row), 3)[0]!) < 1e-15);
});

test('sampling follows softmax(logits / T) and never returns the mask id', () => {
  const logits = [Math.log(0.5), Math.log(0.3), 5, Math.log(0.2)];
  const row = Float32Array.from(logits);
  const rng = new Prng(7);
  const counts = [0, 0, 0, 0];
  const N = 20000;
  for (let i = 0; i < N; i++) counts[chooseSampled(row, 2, 1, 0, rng).token]!++;
  assert.equal(counts[2], 0);
  for (const [tok, p] of [[0, 0.5], [1, 0.3], [3, 0.2]] as const) {
    const sd = Math.sqrt((p * (1 - p)) / N);
    assert.ok(Math.abs(counts[tok]! / N - p) < 5 * sd, `token ${tok}: ${counts[tok]! / N} vs ${p}`);
  }
});

test('top-k keeps only the k best tokens; a low temperature approaches argmax', () => {
  const row = Float32Array.from([0, 1, 2, 3, 4, 5]);
  const rng = new Prng(1);
  const seen = new Set<number>();
  for (let i = 0; i < 2000; i++) seen.add(chooseSampled(row, 0, 1, 2, rng).token);
  assert.deepEqual([...seen].sort(), [4, 5]);
  const c = chooseSampled(row, 0, 1, 2, rng);
  const p5 = Math.exp(5) / (Math.exp(4) + Math.exp(5));
  assert.ok(Math.abs(c.confidence - (c.token === 5 ? p5 : 1 - p5)) < 1e-12);
  for (let i = 0; i < 200; i++) assert.equal(chooseSampled(row, 0, 0.01, 0, rng).token, 5);
});

test('the PRNG is reproducible from its seed and stays inside (0, 1)', () => {
  const a = new Prng(42);
  const b = new Prng(42);
  const c = new Prng(43);
  const xs = Array.from({ length: 1000 }, () => a.uniform());
  assert.deepEqual(xs, Array.from({ length: 1000 }, () => b.uniform()));
  assert.notDeepEqual(xs.slice(0, 10), Array.from({ length: 10 }, () => c.uniform()));
  assert.ok(xs.every((x) => x > 0 && x < 1));
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.05);
});

test('a softmax sum stopped at a limit and resumed is bit-identical to one pass', () => {
  const rng = new Prng(3);
  const row = Float32Array.from({ length: 8192 }, () => (rng.uniform() - 0.5) * 30);
  const whole = chooseGreedy(row, 3);
  const scan = startScan(row, 3);
  assert.equal(scan.token, whole.token);
  assert.equal(advanceScan(row, 3, scan, 1.2), false, 'a flat row passes 1.2 long before its end');
  assert.ok(scan.sum > 1.2 && scan.next < row.length);
  assert.equal(advanceScan(row, 3, scan), true);
  assert.equal(1 / scan.sum, whole.confidence);
});
