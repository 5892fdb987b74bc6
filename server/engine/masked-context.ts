// The context K/V of the unconditional (classifier-free guidance) row, memoised.
//
// The unconditional row is the canvas with every context position replaced by [MASK]. When a request
// starts, its span is all [MASK] too, so that row is nothing but L masks: its K/V depend on the canvas
// length L alone, not on the text. One forward per length serves every later request of that length
// (an LRU of a few lengths), which takes the second full pass out of guided decoding; the request's own
// context positions are then gathered from it. The first span step against this cache is exact (span
// ids unchanged), as is the first step of any cached path; later steps are not: the context keys and
// values stay those of an all-[MASK] span while the span fills, an approximation of full recompute
// whose drift docs/benchmarks.md measures.
import type { KvCache, Model } from './model';
import { maskId } from './config';

/** Distinct canvas lengths remembered per model (each costs 2 * layers * L * d_model floats). */
const MAX_LENGTHS = 6;

interface Entry {
  keys: Float32Array[];
  values: Float32Array[];
}

const memo = new WeakMap<Model, Map<number, Entry>>();

async function allMaskKv(model: Model, L: number): Promise<{ entry: Entry; computed: boolean }> {
  let byLength = memo.get(model);
  if (byLength === undefined) {
    byLength = new Map();
    memo.set(model, byLength);
  }
  const hit = byLength.get(L);
  if (hit !== undefined) {
    byLength.delete(L); // re-insert: most recently used last
    byLength.set(L, hit);
    return { entry: hit, computed: false };
  }
  const all = BigInt64Array.from({ length: L }, (_, i) => BigInt(i));
  const out = await model.forward({
    batch: 1,
    ids: new BigInt64Array(L).fill(BigInt(maskId(model.config))),
    positions: all,
    gather: new BigInt64Array(0),
    keep: all,
  });
  const present = out.present!;
  const entry: Entry = {
    keys: present.keys.map((t) => t.data as Float32Array),
    values: present.values.map((t) => t.data as Float32Array),
  };
  byLength.set(L, entry);
  if (byLength.size > MAX_LENGTHS) byLength.delete(byLength.keys().next().value!);
  return { entry, computed: true };
}

/**
 * K/V at `keep` (ascending) of an all-[MASK] canvas of length L, as a batch-1 cache; `computed` says
 * whether this call had to run the full forward (a memo miss).
 */
export async function maskedContextCache(model: Model, L: number, keep: readonly number[]): Promise<{ cache: KvCache; computed: boolean }> {
  const { entry, computed } = await allMaskKv(model, L);
  const { nKvHead, headDim } = model.config;
  const C = keep.length;
  const pick = (src: Float32Array): Float32Array => {
    const dst = new Float32Array(nKvHead * C * headDim);
    for (let h = 0; h < nKvHead; h++) {
      for (let j = 0; j < C; j++) {
        const from = (h * L + keep[j]!) * headDim;
        dst.set(src.subarray(from, from + headDim), (h * C + j) * headDim);
      }
    }
    return dst;
  };
  return { cache: model.makeCache(1, C, entry.keys.map(pick), entry.values.map(pick)), computed };
}
