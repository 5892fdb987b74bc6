// The realistic bench suite on disk (test/bench/realistic/, made by test/bench/extract-realistic.ts):
// its documents and tasks, checked against each other on load, and the selection of tasks a run uses.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommandError } from '../command';

export interface SuiteDoc {
  path: string;
  package: string | null;
  version: string | null;
  license: string | null;
  language: string;
  text: string;
}

/** One line of test/bench/realistic/tasks.jsonl (see test/bench/extract-realistic.ts). */
export interface RealisticTask {
  id: string;
  kind: string;
  /** 'infill' = engine.infill(prefix, suffix); 'fill' = engine.fill with `___` at the gap. */
  mode: 'infill' | 'fill';
  language: string;
  /** Index into docs.jsonl. */
  doc: number;
  /** The gap [start, end) in the document (JavaScript string indices). */
  start: number;
  end: number;
  /** The task's document is the stored one cut at doc_end (end-of-document), else all of it. */
  doc_end: number;
  /** The text removed: what the model should write. */
  reference: string;
  ref_tokens: number;
  /** Canvas size (tokens) the bench asks for. */
  max_tokens: number;
  /** mid-line / end-of-line: whether the gap's edges fall inside a word (letters, digits, _ or $ on both sides). */
  cuts_word?: { start: boolean; end: boolean };
  source: { package: string | null; version: string | null; path: string; license: string | null };
}

export interface Suite {
  dir: string;
  docs: SuiteDoc[];
  tasks: RealisticTask[];
}

function readJsonl<T>(file: string): T[] {
  const out: T[] = [];
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (line.trim() === '') return;
      try {
        out.push(JSON.parse(line) as T);
      } catch (err) {
        throw new CommandError(`${file} line ${i + 1}: not JSON (${(err as Error).message})`);
      }
    });
  return out;
}

export function loadSuite(dir: string): Suite {
  const docsFile = join(dir, 'docs.jsonl');
  const tasksFile = join(dir, 'tasks.jsonl');
  if (!existsSync(docsFile) || !existsSync(tasksFile)) {
    throw new CommandError(`no realistic suite in ${dir} (make it with test/bench/extract-realistic.ts)`);
  }
  const docs = readJsonl<SuiteDoc>(docsFile);
  const tasks = readJsonl<RealisticTask>(tasksFile);
  for (const t of tasks) {
    const d = docs[t.doc];
    if (d === undefined || typeof d.text !== 'string' || d.text.slice(0, t.doc_end).slice(t.start, t.end) !== t.reference) {
      throw new CommandError(`${tasksFile}: task ${t.id} does not match its document (rebuild the suite)`);
    }
  }
  return { dir, docs, tasks };
}

/** The task's document (cut at doc_end) split around its gap. */
export function taskParts(task: RealisticTask, docs: readonly SuiteDoc[]): { document: string; prefix: string; suffix: string } {
  const document = docs[task.doc]!.text.slice(0, task.doc_end);
  return { document, prefix: document.slice(0, task.start), suffix: document.slice(task.end) };
}

/** The first N tasks of each kind (file order), optionally only some kinds. */
export function selectTasks(tasks: readonly RealisticTask[], limit: number | undefined, kinds: readonly string[] | undefined): RealisticTask[] {
  const out: RealisticTask[] = [];
  const order = [...new Set(tasks.map((t) => t.kind))];
  for (const kind of order) {
    if (kinds !== undefined && !kinds.includes(kind)) continue;
    const ts = tasks.filter((t) => t.kind === kind);
    out.push(...(limit === undefined ? ts : ts.slice(0, limit)));
  }
  return out;
}
