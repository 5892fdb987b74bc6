// Per-position token choice from one logits row: greedy argmax or exact Gumbel-max sampling, with the
// softmax confidence computed in float64. The [MASK] id is excluded everywhere: it is an input-only token.
import type { Prng } from './prng';

export interface Choice {
  token: number;
  /** Probability of `token` under the (temperature-scaled, top-k-restricted) softmax. */
  confidence: number;
}

/**
 * Terms more than this far below the maximum logit are skipped in the softmax sum: each is below
 * e^-50 (2e-22), so even 10^5 of them change a sum >= 1 by less than half an ulp. The result is the
 * float64 softmax up to summation rounding, and most of an 8192-entry row needs no exp() at all.
 */
const NEGLIGIBLE = 50;

/** Sum of exp(x - max) over the row, mask excluded (see NEGLIGIBLE). */
function expSum(row: Float32Array, maskId: number, max: number): number {
  const lo = max - NEGLIGIBLE;
  let sum = 0;
  for (let v = 0; v < row.length; v++) {
    const x = row[v]!;
    if (x > lo && v !== maskId) sum += Math.exp(x - max);
  }
  return sum;
}

/**
 * Greedy choice for one row, computed in two resumable parts: the argmax (cheap), then the softmax
 * denominator sum(exp(x - max)), which may stop early once it exceeds a limit and be resumed later.
 * A resumed sum adds the same terms in the same order, so the result is bit-identical to one pass.
 */
export interface GreedyScan {
  /** Argmax without the mask id; ties go to the lowest id. */
  token: number;
  max: number;
  /** The softmax denominator so far (final when `next === row.length`). */
  sum: number;
  /** Next vocabulary index to add to `sum`. */
  next: number;
}

export function startScan(row: Float32Array, maskId: number): GreedyScan {
  let best = -1;
  let max = -Infinity;
  for (let v = 0; v < row.length; v++) {
    const x = row[v]!;
    if (x > max && v !== maskId) {
      max = x;
      best = v;
    }
  }
  return { token: best, max, sum: 0, next: 0 };
}

/**
 * Adds terms to the scan's sum until it exceeds `limit` or the row ends; true when the sum is final.
 * Stopping early proves the confidence is below 1 / limit, since every term is positive.
 */
export function advanceScan(row: Float32Array, maskId: number, scan: GreedyScan, limit = Infinity): boolean {
  const lo = scan.max - NEGLIGIBLE;
  const max = scan.max;
  let sum = scan.sum;
  let v = scan.next;
  const n = row.length;
  // Check the limit every 256 terms: often enough to stop early, rarely enough to cost nothing.
  while (v < n) {
    const end = Math.min(n, v + 256);
    for (; v < end; v++) {
      const x = row[v]!;
      if (x > lo && v !== maskId) sum += Math.exp(x - max);
    }
    if (sum > limit) break;
  }
  scan.sum = sum;
  scan.next = v;
  return v >= n;
}

/**
 * The softmax terms of the 256-entry block that holds the argmax: a lower bound on the row's sum (so
 * 1 / it bounds the confidence from above) for one block of exp(). Most rows of a step are unsure,
 * and the bound settles them without a scan from the row's start to past the argmax. The scan's own
 * sum is left untouched, so a confidence computed later (advanceScan, in the row's order) stays
 * bit-identical.
 */
export function blockSum(row: Float32Array, maskId: number, scan: GreedyScan): number {
  const lo = scan.max - NEGLIGIBLE;
  const start = scan.token - (scan.token % 256);
  const end = Math.min(row.length, start + 256);
  let sum = 0;
  for (let v = start; v < end; v++) {
    const x = row[v]!;
    if (x > lo && v !== maskId) sum += Math.exp(x - scan.max);
  }
  return sum;
}

/** Argmax over the row without the mask id; ties go to the lowest id. Confidence = max softmax prob. */
export function chooseGreedy(row: Float32Array, maskId: number): Choice {
  const scan = startScan(row, maskId);
  advanceScan(row, maskId, scan);
  return { token: scan.token, confidence: 1 / scan.sum };
}

/** Softmax probability (float64, mask excluded) of one token. */
export function tokenProbability(row: Float32Array, maskId: number, token: number): number {
  let max = -Infinity;
  for (let v = 0; v < row.length; v++) if (v !== maskId && row[v]! > max) max = row[v]!;
  return Math.exp(row[token]! - max) / expSum(row, maskId, max);
}

/** The logit value of the k-th largest entry (mask excluded): entries below it are cut by top-k. */
function topKCut(row: Float32Array, maskId: number, k: number): number {
  const vals = new Float64Array(row.length - 1);
  let n = 0;
  for (let v = 0; v < row.length; v++) if (v !== maskId) vals[n++] = row[v]!;
  vals.sort();
  return vals[vals.length - k]!;
}

/**
 * Exact sample from softmax(logits / temperature) restricted to the top-k logits, by Gumbel-max:
 * argmax(l / T + G) with G = -log(-log U). Keeps at most k candidates (ties at the cut: lowest ids).
 */
export function chooseSampled(row: Float32Array, maskId: number, temperature: number, topK: number, rng: Prng): Choice {
  const limitK = topK > 0 && topK < row.length - 1;
  const cut = limitK ? topKCut(row, maskId, topK) : -Infinity;
  let admittedAtCut = 0;
  let aboveCut = 0;
  if (limitK) for (let v = 0; v < row.length; v++) if (v !== maskId && row[v]! > cut) aboveCut++;
  let best = -1;
  let bestKey = -Infinity;
  let max = -Infinity;
  const admitted = new Uint8Array(row.length);
  for (let v = 0; v < row.length; v++) {
    if (v === maskId) continue;
    const x = row[v]!;
    if (x < cut) continue;
    if (limitK && x === cut) {
      if (aboveCut + admittedAtCut >= topK) continue;
      admittedAtCut++;
    }
    admitted[v] = 1;
    const scaled = x / temperature;
    if (scaled > max) max = scaled;
    const key = scaled - Math.log(-Math.log(rng.uniform()));
    if (key > bestKey) {
      bestKey = key;
      best = v;
    }
  }
  let sum = 0;
  for (let v = 0; v < row.length; v++) if (admitted[v]) sum += Math.exp(row[v]! / temperature - max);
  return { token: best, confidence: Math.exp(row[best]! / temperature - max) / sum };
}
