// How far the cached sampler path (the default) drifts from exact decoding. The cached path encodes the
// context once, while the span is all [MASK], and runs later steps on the span alone against those
// keys and values; the exact path re-encodes the whole canvas every step, so there the context also
// sees the tokens committed so far. The first step is the same on both; after a commit they may part.
// Measured on the bench suites with every other option at the engine's defaults:
// - answer agreement: the share of tasks whose final answer (after healing and scope) is identical;
// - token agreement: over the answers' tokens, the share at which the cached answer has the exact
//   answer's token at the same position (sum of matches / sum of the longer answer's length).
//
//   node --import tsx test/bench/cache-drift.ts [--limit N] [--model DIR] [--threads T] [--json OUT]
//
// --limit N takes the first N tasks of each kind of both suites (default 20). The test
// test/unit/engine-cache-drift.test.ts holds a small slice of it to the figure in docs/benchmarks.md.
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Engine } from '../../server/engine/engine';
import { loadModel } from '../../server/engine/engine';
import { loadSuite, selectTasks, taskParts } from '../../server/src/commands/bench-realistic-suite';

const ROOT = resolve(__dirname, '..', '..');

/** One infill or Fill Blanks request, as the bench suites send it. */
export interface DriftTask {
  id: string;
  suite: 'fixed' | 'realistic';
  kind: string;
  mode: 'infill' | 'fill';
  prefix: string;
  suffix: string;
  maxTokens: number;
}

export interface DriftResult {
  tasks: number;
  /** Tasks whose cached and exact answers are identical. */
  sameAnswers: number;
  /** Token positions where the two answers agree, and the positions compared (the longer answer's length). */
  sameTokens: number;
  comparedTokens: number;
  answerAgreement: number;
  tokenAgreement: number;
  /** Ids of the tasks whose answers differ. */
  differing: string[];
}

/** The first `limit` tasks of each kind of the fixed suite (test/bench/tasks.jsonl). */
export function fixedTasks(limit: number): DriftTask[] {
  const rows = readFileSync(join(ROOT, 'test', 'bench', 'tasks.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as { task_id: string; kind: string; prompt: string; suffix: string; max_tokens: number });
  const out: DriftTask[] = [];
  for (const kind of [...new Set(rows.map((r) => r.kind))]) {
    for (const r of rows.filter((x) => x.kind === kind).slice(0, limit)) {
      out.push({ id: r.task_id, suite: 'fixed', kind, mode: 'infill', prefix: r.prompt, suffix: r.suffix, maxTokens: r.max_tokens });
    }
  }
  return out;
}

/** The first `limit` tasks of each kind of the realistic suite (test/bench/realistic/). */
export function realisticTasks(limit: number): DriftTask[] {
  const suite = loadSuite(join(ROOT, 'test', 'bench', 'realistic'));
  return selectTasks(suite.tasks, limit, undefined).map((t) => {
    const { prefix, suffix } = taskParts(t, suite.docs);
    return { id: t.id, suite: 'realistic', kind: t.kind, mode: t.mode, prefix, suffix, maxTokens: t.max_tokens };
  });
}

async function answer(engine: Engine, task: DriftTask, cache: boolean): Promise<string> {
  const sampler = { cache };
  if (task.mode === 'fill') {
    // As Fill Blanks sends it (and the realistic bench): the document with `___` at the gap.
    const r = await engine.fill({
      text: `${task.prefix}___${task.suffix}`,
      blanks: [{ start: task.prefix.length, end: task.prefix.length + 3 }],
      maxTokensPerBlank: task.maxTokens,
      sampler,
    });
    return r.fills[0] ?? '';
  }
  return (await engine.infill({ prefix: task.prefix, suffix: task.suffix, maxTokens: task.maxTokens, sampler })).text;
}

/** Runs every task on the default (cached) path and on exact full recompute and compares the answers. */
export async function measureDrift(engine: Engine, tasks: readonly DriftTask[], progress?: (done: number) => void): Promise<DriftResult> {
  let sameAnswers = 0;
  let sameTokens = 0;
  let comparedTokens = 0;
  const differing: string[] = [];
  const encode = (s: string) => Array.from(engine.model.tokenizer.encode(s));
  for (const [i, task] of tasks.entries()) {
    const cached = await answer(engine, task, true);
    const exact = await answer(engine, task, false);
    if (cached === exact) sameAnswers++;
    else differing.push(task.id);
    const a = encode(cached);
    const b = encode(exact);
    comparedTokens += Math.max(a.length, b.length);
    for (let k = 0; k < Math.min(a.length, b.length); k++) if (a[k] === b[k]) sameTokens++;
    progress?.(i + 1);
  }
  return {
    tasks: tasks.length,
    sameAnswers,
    sameTokens,
    comparedTokens,
    answerAgreement: tasks.length === 0 ? 1 : sameAnswers / tasks.length,
    tokenAgreement: comparedTokens === 0 ? 1 : sameTokens / comparedTokens,
    differing,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { limit: { type: 'string' }, model: { type: 'string' }, threads: { type: 'string' }, json: { type: 'string' } },
  });
  const limit = Number(values.limit ?? 20);
  const engine = await loadModel(values.model ?? join(ROOT, 'models', 'default'), { threads: Number(values.threads ?? 1) });
  const report: Record<string, DriftResult & { byKind: Record<string, DriftResult> }> = {};
  try {
    for (const [name, tasks] of [['fixed', fixedTasks(limit)], ['realistic', realisticTasks(limit)]] as const) {
      const byKind: Record<string, DriftResult> = {};
      for (const kind of [...new Set(tasks.map((t) => t.kind))]) {
        byKind[kind] = await measureDrift(engine, tasks.filter((t) => t.kind === kind));
        process.stderr.write(`${name} ${kind}: ${byKind[kind]!.sameAnswers}/${byKind[kind]!.tasks}\n`);
      }
      const all = Object.values(byKind);
      const sum = (f: (r: DriftResult) => number) => all.reduce((n, r) => n + f(r), 0);
      const total: DriftResult = {
        tasks: sum((r) => r.tasks),
        sameAnswers: sum((r) => r.sameAnswers),
        sameTokens: sum((r) => r.sameTokens),
        comparedTokens: sum((r) => r.comparedTokens),
        answerAgreement: sum((r) => r.sameAnswers) / Math.max(1, sum((r) => r.tasks)),
        tokenAgreement: sum((r) => r.sameTokens) / Math.max(1, sum((r) => r.comparedTokens)),
        differing: all.flatMap((r) => r.differing),
      };
      report[name] = { ...total, byKind };
    }
  } finally {
    await engine.dispose();
  }
  const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
  process.stdout.write('| suite | kind | tasks | same answer | same tokens |\n|---|---|---|---|---|\n');
  for (const [name, r] of Object.entries(report)) {
    for (const [kind, k] of Object.entries(r.byKind)) process.stdout.write(`| ${name} | ${kind} | ${k.tasks} | ${pct(k.answerAgreement)} | ${pct(k.tokenAgreement)} |\n`);
    process.stdout.write(`| ${name} | all | ${r.tasks} | ${pct(r.answerAgreement)} | ${pct(r.tokenAgreement)} |\n`);
  }
  if (values.json) writeFileSync(values.json, `${JSON.stringify({ limit, report }, null, 2)}\n`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
