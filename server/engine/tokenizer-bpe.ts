// The BPE merge loop over one pre-token, our own rather than @huggingface/tokenizers'. The library's
// version is linear but slow on long pre-tokens (about 13 s for a 1 MB run of spaces, where Python takes
// 1-2 s), and the merge order is the contract, so this implements the Rust algorithm directly:
// repeatedly apply the lowest-ranked adjacent pair, leftmost first, with a binary heap and lazily
// discarded stale entries. That is O(n log n) in the pre-token length and gives the same ids as Rust by
// construction.

const POS_SPAN = 2 ** 32;
/** The most merges a tokenizer may have: keeps rank * 2^32 + pos below 2^53 (exact in a double). */
export const MAX_MERGES = 2 ** 20;

/** Min-heap of merge candidates keyed by rank * 2^32 + position (lowest rank, then leftmost). */
class MergeHeap {
  private keys = new Float64Array(64);
  size = 0;

  clear(): void {
    this.size = 0;
  }

  push(key: number): void {
    if (this.size === this.keys.length) {
      const grown = new Float64Array(this.keys.length * 2);
      grown.set(this.keys);
      this.keys = grown;
    }
    const k = this.keys;
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (k[parent]! <= key) break;
      k[i] = k[parent]!;
      i = parent;
    }
    k[i] = key;
  }

  pop(): number {
    const k = this.keys;
    const top = k[0]!;
    const last = k[--this.size]!;
    let i = 0;
    const n = this.size;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && k[child + 1]! < k[child]!) child++;
      if (k[child]! >= last) break;
      k[i] = k[child]!;
      i = child;
    }
    k[i] = last;
    return top;
  }
}

/** A tokenizer's merge table and the loop that applies it. */
export class BpeMerges {
  private readonly heap = new MergeHeap();

  constructor(
    private readonly vocabSize: number,
    /** Token id of each byte value (for apply()). */
    private readonly byteIds: Uint32Array,
    /** Merge (left id * vocabSize + right id) -> rank; the merged id is mergeResult[rank]. */
    private readonly mergeRank: Map<number, number>,
    private readonly mergeResult: Int32Array,
  ) {}

  /** The ids of one pre-token's UTF-8 bytes after every merge. */
  apply(bytes: Uint8Array): Uint32Array {
    const sym = new Int32Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) sym[i] = this.byteIds[bytes[i]!]!;
    return this.applySymbols(sym);
  }

  /** The ids after every merge of a pre-token given as its initial symbols (overwritten). */
  applySymbols(sym: Int32Array): Uint32Array {
    const n = sym.length;
    if (n === 0) return new Uint32Array(0);
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    const V = this.vocabSize;
    const ranks = this.mergeRank;
    const heap = this.heap;
    heap.clear();
    for (let i = 0; i + 1 < n; i++) {
      const r = ranks.get(sym[i]! * V + sym[i + 1]!);
      if (r !== undefined) heap.push(r * POS_SPAN + i);
    }
    while (heap.size > 0) {
      const key = heap.pop();
      const rank = Math.floor(key / POS_SPAN);
      const pos = key - rank * POS_SPAN;
      if (sym[pos]! < 0) continue; // absorbed into its left neighbour
      const right = next[pos]!;
      if (right < 0) continue;
      // Stale entry: one side has changed since it was queued (a pair has exactly one rank).
      if (ranks.get(sym[pos]! * V + sym[right]!) !== rank) continue;
      sym[pos] = this.mergeResult[rank]!;
      sym[right] = -1;
      const after = next[right]!;
      next[pos] = after;
      if (after >= 0) prev[after] = pos;
      const before = prev[pos]!;
      if (before >= 0) {
        const r = ranks.get(sym[before]! * V + sym[pos]!);
        if (r !== undefined) heap.push(r * POS_SPAN + before);
      }
      if (after >= 0) {
        const r = ranks.get(sym[pos]! * V + sym[after]!);
        if (r !== undefined) heap.push(r * POS_SPAN + pos);
      }
    }
    let count = 0;
    for (let i = 0; i >= 0; i = next[i]!) count++;
    const out = new Uint32Array(count);
    for (let i = 0, k = 0; i >= 0; i = next[i]!) out[k++] = sym[i]!;
    return out;
  }
}
