// `diffill bench --suite realistic`: the realistic infill suite (test/bench/realistic/, made by
// test/bench/extract-realistic.ts): gaps as editors and people make them (a deleted line with its line
// break, the cursor after the indentation or inside a word, the end of the document, whole blocks, Fill
// Blanks' `___` over a name, a call's arguments or an expression), on held-out Python, TypeScript,
// JavaScript and Markdown documents stored whole. Each row is a named setting of engine options; per
// kind and overall it reports exact match (exact and whitespace-trimmed), edit similarity, the share of
// filled documents that still parse (bench-parse.ts), runaway repetition, answer length against the
// reference, empty answers, latency and forwards. The suite's files: bench-realistic-suite.ts; scoring:
// bench-realistic-score.ts; the markdown: bench-realistic-report.ts; this file runs the rows.
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../command';
import { packageRoot } from '../../common/paths';
import type { FitOptions, SamplerOptions } from '../../engine/api';
import { type Engine, loadModel } from '../../engine/index';
import { checkParses, type ParseCheck } from './bench-parse';
import { fix, pct, realisticMarkdown, type RowReport } from './bench-realistic-report';
import { groupBy, score, summarize, type TaskResult } from './bench-realistic-score';
import { loadSuite, type RealisticTask, selectTasks, type Suite, type SuiteDoc, taskParts } from './bench-realistic-suite';
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

// --- running ---------------------------------------------------------------------------------------

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
