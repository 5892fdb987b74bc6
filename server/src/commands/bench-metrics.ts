// The bench's task type and metrics, shared by the in-process engine rows (bench.ts) and the
// end-to-end language-server row (bench-lsp.ts) so that both score completions the same way.
import { CommandError } from '../command';

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

/** The fields a task line must have, with their JSON types (Task above). */
const TASK_FIELDS = { task_id: 'string', kind: 'string', prompt: 'string', suffix: 'string', middle: 'string', max_tokens: 'number' } as const;

/**
 * Reads a JSON-lines task suite, checking every line's shape first, so a file of the wrong shape is
 * named with its line and field before the model loads (and before a long run fails half-way).
 */
export function readTasks(file: string, text: string): Task[] {
  const tasks: Task[] = [];
  const lines = text.split('\n');
  for (let n = 1; n <= lines.length; n++) {
    const line = lines[n - 1]!;
    if (line.trim() === '') continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (err) {
      throw new CommandError(`${file} line ${n}: not JSON (${(err as Error).message})`);
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CommandError(`${file} line ${n}: expected a JSON object, got ${JSON.stringify(v).slice(0, 40)}`);
    for (const [field, type] of Object.entries(TASK_FIELDS)) {
      const value = (v as Record<string, unknown>)[field];
      const ok = type === 'number' ? typeof value === 'number' && Number.isInteger(value) && value > 0 : typeof value === 'string';
      if (!ok) {
        throw new CommandError(
          `${file} line ${n}: field "${field}" must be ${type === 'number' ? 'a positive integer' : 'a string'}, got ${value === undefined ? 'nothing' : JSON.stringify(value).slice(0, 40)} ` +
            `(a task has ${Object.keys(TASK_FIELDS).join(', ')})`,
        );
      }
    }
    tasks.push(v as Task);
  }
  if (tasks.length === 0) throw new CommandError(`${file} holds no tasks`);
  return tasks;
}
