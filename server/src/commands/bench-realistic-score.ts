// Scoring the realistic suite's answers: exact match, edit similarity, answer length, empty answers and
// runaway repetition per task, and their summary over a set of tasks (per kind, per language, overall).
// The parse check runs in batches in the runner (bench-parse.ts).
import type { TextCodec } from '../../engine/codec';
import { editSimilarity, percentile } from './bench-metrics';
import type { RealisticTask } from './bench-realistic-suite';

// --- repetition ------------------------------------------------------------------------------------

/** The smallest period of a sequence (its length when it has none). */
function period(xs: readonly number[]): number {
  for (let p = 1; p < xs.length; p++) {
    if (xs.length % p !== 0) continue;
    let ok = true;
    for (let i = p; i < xs.length && ok; i++) ok = xs[i] === xs[i - p];
    if (ok) return p;
  }
  return xs.length;
}

/** The lexicographically smallest rotation, as a key (a run of a unit can start at any of its rotations). */
function canonical(unit: readonly number[]): string {
  let best: number[] | null = null;
  for (let r = 0; r < unit.length; r++) {
    const rot = [...unit.slice(r), ...unit.slice(0, r)];
    if (best === null || lexLess(rot, best)) best = rot;
  }
  return best!.join(',');
}

function lexLess(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
}

/**
 * Units (one token, or an n-gram of up to maxN tokens) that occur `copies` or more times in a row in
 * ids, as canonical keys: a unit that is itself periodic counts as its shortest period, and rotations
 * of a unit are one unit.
 */
export function repeatedUnits(ids: ArrayLike<number>, maxN = 8, copies = 3): Set<string> {
  const xs = Array.from(ids);
  const out = new Set<string>();
  for (let p = 1; p <= maxN; p++) {
    let run = 0; // consecutive i with xs[i] === xs[i - p]
    for (let i = p; i < xs.length; i++) {
      run = xs[i] === xs[i - p] ? run + 1 : 0;
      if (run >= (copies - 1) * p) {
        const unit = xs.slice(i - p + 1, i + 1);
        if (period(unit) === p) out.add(canonical(unit));
      }
    }
  }
  return out;
}

/** True when the answer repeats a unit 3+ times in a row that the reference does not repeat so. */
export function addsRepetition(answer: ArrayLike<number>, reference: ArrayLike<number>): boolean {
  const ref = repeatedUnits(reference);
  for (const u of repeatedUnits(answer)) if (!ref.has(u)) return true;
  return false;
}

// --- scores ----------------------------------------------------------------------------------------

export interface TaskResult {
  id: string;
  kind: string;
  language: string;
  answer: string;
  ms: number;
  forwards: number;
  error: string | null;
  exact: boolean;
  exact_trimmed: boolean;
  edit_similarity: number;
  answer_tokens: number;
  reference_tokens: number;
  repetition: boolean;
  empty: boolean;
  /** The task's own document parses (null: not checked: prose, or no checker). */
  original_parses: boolean | null;
  /** The document with the answer written in parses (null: not checked). */
  parses: boolean | null;
}

export interface Summary {
  tasks: number;
  exact_match: number;
  exact_match_trimmed: number;
  edit_similarity: number;
  /** Share of filled documents that parse, over the tasks whose own document parses; null = n/a. */
  parse_rate: number | null;
  parse_checked: number;
  repetition_rate: number;
  /** Mean of answer tokens / reference tokens. */
  length_ratio: number;
  /** Share of answers longer than 1.5x the reference (tokens). */
  longer_than_1_5x: number;
  /** Share of answers that are empty or whitespace only. */
  empty: number;
  p50_ms: number;
  p95_ms: number;
  mean_forwards: number;
  errors: number;
}

export function summarize(rs: readonly TaskResult[]): Summary {
  const n = Math.max(1, rs.length);
  const share = (f: (r: TaskResult) => boolean) => rs.filter(f).length / n;
  const checked = rs.filter((r) => r.original_parses === true && r.parses !== null);
  return {
    tasks: rs.length,
    exact_match: share((r) => r.exact),
    exact_match_trimmed: share((r) => r.exact_trimmed),
    edit_similarity: rs.reduce((a, r) => a + r.edit_similarity, 0) / n,
    parse_rate: checked.length === 0 ? null : checked.filter((r) => r.parses).length / checked.length,
    parse_checked: checked.length,
    repetition_rate: share((r) => r.repetition),
    length_ratio: rs.reduce((a, r) => a + r.answer_tokens / Math.max(1, r.reference_tokens), 0) / n,
    longer_than_1_5x: share((r) => r.answer_tokens > 1.5 * r.reference_tokens),
    empty: share((r) => r.empty),
    p50_ms: percentile(rs.map((r) => r.ms), 0.5),
    p95_ms: percentile(rs.map((r) => r.ms), 0.95),
    mean_forwards: rs.reduce((a, r) => a + r.forwards, 0) / n,
    errors: rs.filter((r) => r.error !== null).length,
  };
}

/** Scores one answer (everything but the parse check, which runs in batches). */
export function score(task: RealisticTask, answer: string, codec: TextCodec): Pick<TaskResult, 'exact' | 'exact_trimmed' | 'edit_similarity' | 'answer_tokens' | 'reference_tokens' | 'repetition' | 'empty'> {
  const a = codec.encode(answer);
  const r = codec.encode(task.reference);
  return {
    exact: answer === task.reference,
    exact_trimmed: answer.trim() === task.reference.trim(),
    edit_similarity: editSimilarity(answer, task.reference),
    answer_tokens: a.length,
    reference_tokens: r.length,
    repetition: addsRepetition(a, r),
    empty: answer.trim() === '',
  };
}

/** A summary per value of `key` (in order of first appearance). */
export function groupBy(rs: readonly TaskResult[], key: (r: TaskResult) => string): Record<string, Summary> {
  const out: Record<string, Summary> = {};
  for (const k of [...new Set(rs.map(key))]) out[k] = summarize(rs.filter((r) => key(r) === k));
  return out;
}
