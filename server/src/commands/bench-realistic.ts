// `diffill bench --suite realistic`: the realistic infill suite (test/bench/realistic/, made by
// test/bench/extract-realistic.ts): gaps as editors and people make them (a deleted line with its line
// break, the cursor after the indentation or inside a word, the end of the document, whole blocks, Fill
// Blanks' `___` over a name, a call's arguments or an expression), on held-out Python, TypeScript,
// JavaScript and Markdown documents stored whole. Each row is a named setting of engine options; per
// kind and overall it reports exact match (exact and whitespace-trimmed), edit similarity, the share of
// filled documents that still parse (bench-parse.ts), runaway repetition, answer length against the
// reference, empty answers, latency and forwards.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { CommandError, UsageError } from '../command';
import { packageRoot } from '../paths';
import type { FitOptions, SamplerOptions } from '../../engine/api';
import type { TextCodec } from '../../engine/codec';
import { type Engine, loadModel } from '../../engine/index';
import { checkParses, type ParseCheck } from './bench-parse';
import { editSimilarity, percentile } from './bench-metrics';
import { checkWritableFile } from './args';
import { engineFlags, output, parseEngineArgs, positiveIntFlag } from './engine-flags';

export const REALISTIC_USAGE = `Usage: diffill bench --suite realistic [--limit N] [--kinds a,b] [--rows a,b] [--json OUT] [--markdown OUT]
                     [--answers] [--python PATH] [--suite-dir DIR] [--model DIR] [--threads T] [sampler flags]

Runs the realistic infill suite (test/bench/realistic/: gaps as editors make them, on held-out
documents) under each row of engine options and prints, per row, a table by kind: exact match (exact
and whitespace-trimmed), edit similarity, parse rate of the filled document, repetition, answer length
against the reference, empty answers, p50/p95 latency and forwards.

  --limit N        the first N tasks of each kind (default: all)
  --kinds a,b      only these kinds (${'line-start, after-indent, mid-line, end-of-line, end-of-document, block, blank-identifier, blank-args, blank-expression'})
  --rows a,b       only these rows, by id or name (ids: ${'landed, heal, scope, defaults'})
  --json OUT       every figure, example answers per kind, and with --answers every answer
  --markdown OUT   the tables as markdown
  --answers        put every task's answer in the JSON
  --python PATH    the interpreter for the Python parse check (default python3; without one: n/a)
  --suite-dir DIR  the suite's folder (default test/bench/realistic)
  sampler flags (--steps, --threshold, ...) and --context apply to every row, under the row's own options`;

/** A named setting of engine options: one row of the tables. Edit this list to compare other settings. */
export interface RealisticRow {
  id: string;
  name: string;
  sampler: Partial<SamplerOptions>;
  fit?: Partial<FitOptions>;
  /** Sampler options for the Fill Blanks kinds only (the landed engine filled blanks without a length rule). */
  fillSampler?: Partial<SamplerOptions>;
}

export const REALISTIC_ROWS: RealisticRow[] = [
  // Each row adds one change to the one above; the blank kinds keep the landed single decode without a
  // length rule until the last row, which adds Fill Blanks' choice among length rules and the guard.
  { id: 'landed', name: 'landed engine', sampler: { repeatGuard: false }, fit: { heal: false, scope: false }, fillSampler: { lengthThreshold: 0 } },
  { id: 'heal', name: '+ token healing', sampler: { repeatGuard: false }, fit: { heal: true, scope: false }, fillSampler: { lengthThreshold: 0 } },
  { id: 'scope', name: '+ answer scope', sampler: { repeatGuard: false }, fit: { heal: true, scope: true }, fillSampler: { lengthThreshold: 0 } },
  { id: 'defaults', name: 'engine defaults', sampler: {} },
];

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
  mode: 'infill' | 'fill';
  language: string;
  doc: number;
  start: number;
  end: number;
  doc_end: number;
  reference: string;
  ref_tokens: number;
  max_tokens: number;
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

// --- running ---------------------------------------------------------------------------------------

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

interface RunOptions {
  base: Partial<SamplerOptions>;
  contextTokens: number;
}

async function runTask(engine: Engine, task: RealisticTask, docs: readonly SuiteDoc[], row: RealisticRow, o: RunOptions): Promise<{ answer: string; ms: number; forwards: number }> {
  const { prefix, suffix } = taskParts(task, docs);
  const sampler = { ...o.base, ...row.sampler };
  const context = { maxContextTokens: o.contextTokens };
  const fit = row.fit ?? {};
  if (task.mode === 'fill') {
    Object.assign(sampler, row.fillSampler);
    // As Fill Blanks sends it: the document with `___` at the gap, the blank's range over the underscores.
    const r = await engine.fill({ text: `${prefix}___${suffix}`, blanks: [{ start: prefix.length, end: prefix.length + 3 }], maxTokensPerBlank: task.max_tokens, sampler, context, fit });
    return { answer: r.fills[0] ?? '', ms: r.latencyMs, forwards: r.forwards };
  }
  const r = await engine.infill({ prefix, suffix, maxTokens: task.max_tokens, sampler, context, fit });
  return { answer: r.text, ms: r.latencyMs, forwards: r.forwards };
}

export interface RowReport {
  id: string;
  name: string;
  sampler: Partial<SamplerOptions>;
  fit: Partial<FitOptions> | null;
  overall: Summary;
  by_kind: Record<string, Summary>;
  by_language: Record<string, Summary>;
  examples: Record<string, Array<{ id: string; language: string; reference: string; answer: string }>>;
  answers?: TaskResult[];
}

function groupBy(rs: readonly TaskResult[], key: (r: TaskResult) => string): Record<string, Summary> {
  const out: Record<string, Summary> = {};
  for (const k of [...new Set(rs.map(key))]) out[k] = summarize(rs.filter((r) => key(r) === k));
  return out;
}

/** Parse status of each task's own document, checked once per distinct document. */
function originalParses(tasks: readonly RealisticTask[], docs: readonly SuiteDoc[], python: string | undefined): { byTask: Map<string, boolean | null>; check: ParseCheck } {
  const keys: string[] = [];
  const items: Array<{ language: string; path: string; text: string }> = [];
  const seen = new Map<string, number>();
  for (const t of tasks) {
    const k = `${t.doc}:${t.doc_end}`;
    if (seen.has(k)) continue;
    seen.set(k, items.length);
    keys.push(k);
    items.push({ language: t.language, path: t.source.path, text: taskParts(t, docs).document });
  }
  const check = checkParses(items, python !== undefined ? { python } : {});
  const byTask = new Map<string, boolean | null>();
  for (const t of tasks) byTask.set(t.id, check.results[seen.get(`${t.doc}:${t.doc_end}`)!]!);
  return { byTask, check };
}

export async function runRealisticRow(
  engine: Engine,
  suite: Suite,
  tasks: readonly RealisticTask[],
  row: RealisticRow,
  o: RunOptions & { python?: string; original: Map<string, boolean | null>; answers: boolean; progress?: (msg: string) => void },
): Promise<RowReport> {
  const results: TaskResult[] = [];
  const codec = engine.model.tokenizer;
  for (const [i, t] of tasks.entries()) {
    let got: { answer: string; ms: number; forwards: number };
    let error: string | null = null;
    try {
      got = await runTask(engine, t, suite.docs, row, o);
    } catch (err) {
      error = (err as Error).message;
      got = { answer: '', ms: NaN, forwards: 0 };
    }
    results.push({
      id: t.id,
      kind: t.kind,
      language: t.language,
      answer: got.answer,
      ms: got.ms,
      forwards: got.forwards,
      error,
      ...score(t, got.answer, codec),
      original_parses: o.original.get(t.id) ?? null,
      parses: null,
    });
    if (o.progress !== undefined && ((i + 1) % 25 === 0 || i + 1 === tasks.length)) o.progress(`${row.name}: ${i + 1}/${tasks.length} tasks`);
  }
  // The filled documents, checked in one batch (only where the task's own document parses).
  const idx = results.flatMap((r, i) => (r.original_parses === true ? [i] : []));
  const filled = checkParses(
    idx.map((i) => {
      const t = tasks[i]!;
      const { prefix, suffix } = taskParts(t, suite.docs);
      return { language: t.language, path: t.source.path, text: prefix + results[i]!.answer + suffix };
    }),
    o.python !== undefined ? { python: o.python } : {},
  );
  idx.forEach((i, k) => (results[i]!.parses = filled.results[k]!));
  const examples: RowReport['examples'] = {};
  for (const r of results) {
    const xs = (examples[r.kind] ??= []);
    if (xs.length < 2) xs.push({ id: r.id, language: r.language, reference: tasks.find((t) => t.id === r.id)!.reference, answer: r.answer });
  }
  return {
    id: row.id,
    name: row.name,
    sampler: { ...o.base, ...row.sampler },
    fit: row.fit ?? null,
    overall: summarize(results),
    by_kind: groupBy(results, (r) => r.kind),
    by_language: groupBy(results, (r) => r.language),
    examples,
    ...(o.answers ? { answers: results } : {}),
  };
}

// --- report ----------------------------------------------------------------------------------------

const pct = (x: number | null) => (x === null || !Number.isFinite(x) ? 'n/a' : `${(100 * x).toFixed(1)} %`);
const fix = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '–');

const HEADER =
  '| exact | exact (trimmed) | edit sim. | parses | repetition | length ratio | > 1.5x ref | empty | p50 ms | p95 ms | forwards |';

function cells(s: Summary): string {
  const parse = s.parse_rate === null ? 'n/a' : `${pct(s.parse_rate)} (${s.parse_checked})`;
  return (
    `${pct(s.exact_match)} | ${pct(s.exact_match_trimmed)} | ${fix(s.edit_similarity, 3)} | ${parse} | ${pct(s.repetition_rate)} | ` +
    `${fix(s.length_ratio, 2)} | ${pct(s.longer_than_1_5x)} | ${pct(s.empty)} | ${fix(s.p50_ms)} | ${fix(s.p95_ms)} | ${fix(s.mean_forwards, 1)} |`
  );
}

export function realisticMarkdown(rows: readonly RowReport[], meta: Record<string, unknown>): string {
  const lines = [
    `Machine: ${String(meta['cpu'])}, ${String(meta['threads'])} threads, load average ${String(meta['load_average_1m'])} at the end; ` +
      `model: ${String(meta['model'])}; ${String(meta['tasks'])} tasks (${String(meta['tasks_per_kind'])}); ${String(meta['date'])}`,
    `Command: \`${String(meta['command'])}\``,
    `Parse checks: Python ${String(meta['python'] ?? 'n/a')} (ast.parse), TypeScript ${String(meta['typescript'] ?? 'n/a')} (syntactic diagnostics); ` +
      'the parses column counts only tasks whose own document parses (their number in brackets); Markdown is not checked.',
    ...(meta['notes'] as string[]).map((n) => `Note: ${n}`),
    '',
    `| row | tasks ${HEADER}`,
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.name} | ${r.overall.tasks} | ${cells(r.overall)}`),
  ];
  for (const r of rows) {
    lines.push('', `**${r.name}** (sampler ${JSON.stringify(r.sampler)}, fit ${r.fit === null ? 'engine defaults' : JSON.stringify(r.fit)})`, '');
    lines.push(`| kind | tasks ${HEADER}`, '|---|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const [kind, s] of Object.entries(r.by_kind)) lines.push(`| ${kind} | ${s.tasks} | ${cells(s)}`);
    lines.push(`| all | ${r.overall.tasks} | ${cells(r.overall)}`);
    const errors = r.overall.errors;
    if (errors > 0) lines.push('', `${errors} tasks failed with an error (scored as empty answers).`);
  }
  return lines.join('\n') + '\n';
}

// --- command ---------------------------------------------------------------------------------------

function pickRows(spec: string | undefined): RealisticRow[] {
  if (spec === undefined) return REALISTIC_ROWS;
  const want = spec.split(',').map((s) => s.trim()).filter((s) => s !== '');
  return want.map((w) => {
    const row = REALISTIC_ROWS.find((r) => r.id === w || r.name === w);
    if (row === undefined) throw new UsageError(`unknown row '${w}' (rows: ${REALISTIC_ROWS.map((r) => `${r.id} = "${r.name}"`).join(', ')})`);
    return row;
  });
}

export async function benchRealistic(argv: string[]): Promise<number> {
  const { values, positionals } = parseEngineArgs(argv, {
    suite: { type: 'string' },
    'suite-dir': { type: 'string' },
    json: { type: 'string' },
    markdown: { type: 'string' },
    limit: { type: 'string' },
    kinds: { type: 'string' },
    rows: { type: 'string' },
    answers: { type: 'boolean' },
    python: { type: 'string' },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}' (see diffill bench --help)`);
  const flags = engineFlags(values);
  const limit = positiveIntFlag('limit', values.limit);
  // Where the results go is checked before the run, not found wrong after it.
  if (values.json !== undefined) checkWritableFile('json', values.json);
  if (values.markdown !== undefined) checkWritableFile('markdown', values.markdown);
  const suite = loadSuite(values['suite-dir'] ?? join(packageRoot(), 'test', 'bench', 'realistic'));
  const allKinds = [...new Set(suite.tasks.map((t) => t.kind))];
  const kinds = values.kinds?.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const k of kinds ?? []) if (!allKinds.includes(k)) throw new UsageError(`unknown kind '${k}' (kinds: ${allKinds.join(', ')})`);
  const rows = pickRows(values.rows);
  const tasks = selectTasks(suite.tasks, limit, kinds);
  if (tasks.length === 0) throw new UsageError('no tasks selected');
  const progress = (msg: string) => process.stderr.write(`${msg}\n`);
  const original = originalParses(tasks, suite.docs, values.python);
  for (const n of original.check.notes) progress(n);
  const engine = await loadModel(flags.model, flags.threads !== undefined ? { threads: flags.threads } : {});
  const reports: RowReport[] = [];
  try {
    // Warm-up: the first runs pay for ONNX Runtime's lazy initialisation and page faults.
    for (const t of tasks.slice(0, 2)) {
      const { prefix, suffix } = taskParts(t, suite.docs);
      await engine.infill({ prefix, suffix, maxTokens: t.max_tokens });
    }
    for (const row of rows) {
      progress(`${row.name}: ${tasks.length} tasks`);
      const report = await runRealisticRow(engine, suite, tasks, row, {
        base: flags.sampler,
        contextTokens: flags.contextTokens ?? 512,
        original: original.byTask,
        answers: values.answers === true,
        progress,
        ...(values.python !== undefined ? { python: values.python } : {}),
      });
      reports.push(report);
      const s = report.overall;
      progress(
        `${row.name}: EM ${pct(s.exact_match)} (trimmed ${pct(s.exact_match_trimmed)}), ES ${fix(s.edit_similarity, 3)}, parses ${pct(s.parse_rate)}, ` +
          `repetition ${pct(s.repetition_rate)}, empty ${pct(s.empty)}, p50 ${fix(s.p50_ms)} ms`,
      );
    }
  } finally {
    await engine.dispose();
  }
  const perKind = allKinds.filter((k) => kinds === undefined || kinds.includes(k)).map((k) => `${k} ${tasks.filter((t) => t.kind === k).length}`);
  const meta = {
    suite: 'realistic',
    date: new Date().toISOString(),
    load_average_1m: Math.round(loadavg()[0]! * 100) / 100,
    command: `diffill bench ${argv.join(' ')}`.trim(),
    cpu: `${cpus()[0]?.model ?? 'unknown CPU'} (${availableParallelism()} CPUs)`,
    threads: flags.threads ?? availableParallelism(),
    model: engine.model.config.name,
    model_dir: flags.model,
    context_tokens: flags.contextTokens ?? 512,
    tasks: tasks.length,
    tasks_per_kind: perKind.join(', '),
    suite_dir: suite.dir,
    python: original.check.python,
    typescript: original.check.typescript,
    notes: original.check.notes,
  };
  const md = realisticMarkdown(reports, meta);
  output.write(md);
  if (values.json !== undefined) writeFileSync(values.json, JSON.stringify({ meta, rows: reports }, null, 2) + '\n');
  if (values.markdown !== undefined) writeFileSync(values.markdown, md);
  return 0;
}
