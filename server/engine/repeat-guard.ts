// The sampler's repetition guard (sampler.ts): one rule, kept apart so the commit loop reads as the
// algorithm in the sampler's header.

/**
 * Repetition guard for parallel commits: positions decided in the same forward do not see each other,
 * so a confident token can be chosen at several neighbouring positions at once ("total, total, total").
 * A chosen position whose token equals the one chosen one or two positions to its left in the same
 * span waits for the next forward, which sees its neighbour committed ([PAD] runs are no repeat).
 * Healing positions always commit, and at least one position does.
 */
export function deferRepeats(chosen: number[], tokenOf: (p: number) => number, spanOf: Int32Array, keep: readonly number[], pad: number): number[] {
  const kept: number[] = [];
  const token = new Map<number, number>();
  for (const p of chosen) {
    const t = tokenOf(p);
    const repeat = t !== pad && [1, 2].some((d) => spanOf[p - d] === spanOf[p] && token.get(p - d) === t);
    if (repeat && !keep.includes(p)) continue;
    kept.push(p);
    token.set(p, t);
  }
  return kept.length > 0 ? kept : chosen.slice(0, 1);
}
