// The bench's task type and metrics, shared by the in-process engine rows (bench.ts) and the
// end-to-end language-server row (bench-lsp.ts) so that both score completions the same way.

/** One line of test/bench/tasks.jsonl. */
export interface Task {
  task_id: string;
  kind: string;
  prompt: string;
  suffix: string;
  middle: string;
  max_tokens: number;
  source?: { language?: string };
}

export function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** 1 - edit distance / longer length, on the trimmed texts (1 = identical). */
export function editSimilarity(got: string, want: string): number {
  const a = got.trim();
  const b = want.trim();
  const n = Math.max(a.length, b.length);
  return n === 0 ? 1 : 1 - levenshtein(a, b) / n;
}

export function exactMatch(got: string, want: string): boolean {
  return got.trim() === want.trim();
}

/** Nearest-rank percentile (q in [0, 1]); NaN for no values. */
export function percentile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[i]!;
}
