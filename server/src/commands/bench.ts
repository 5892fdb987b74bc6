// `diffill bench`: runs the fixed infill suite (test/bench/tasks.jsonl) under each sampler setting and
// reports latency (p50/p95), forwards, tokens per forward, exact match and edit similarity, next to the
// naive full-recompute baseline measured in the same run. Not a test: numbers depend on the machine.
// The last row (bench-lsp.ts) asks the built language server for ghost text over stdio on the
// single-line tasks, end to end, and is compared with the in-process "engine defaults" row.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import type { Command } from '../command';
import { CommandError, UsageError } from '../command';
import { packageRoot } from '../../common/paths';
import type { FitOptions, SamplerOptions } from '../../engine/api';
import { type Engine, loadModel } from '../../engine/index';
import { benchLsp, LSP_WARMUP, type LspRow } from './bench-lsp';
import { checkWritableFile } from './args';
import { editSimilarity, exactMatch, percentile, readTasks, type Task } from './bench-metrics';
import { benchRealistic, REALISTIC_USAGE } from './bench-realistic';
import { benchSoak, SOAK_USAGE } from './bench-soak';
import { engineFlags, output, parseEngineArgs, positiveIntFlag } from './engine-flags';

export { editSimilarity, exactMatch, levenshtein } from './bench-metrics';

const USAGE = `Usage: diffill bench [--suite fixed] [--json OUT] [--markdown OUT] [--model DIR] [--tasks FILE] [--quick] [--limit N] [--threads T] [--no-lsp]

Runs the fixed held-out infill suite under each sampler setting (full recompute vs context cache,
commit thresholds, guidance 0/0.5/1, step caps, context 256/512) and prints a table. The first
row is the naive baseline (full recompute, one token per forward), measured in the same run. The last
row runs the single-line tasks through the built language server (diffill lsp --stdio, as an editor
would: textDocument/inlineCompletion, debounce 0) and compares it with the in-process engine defaults.
An autoregressive model (format diffill-arm) has none of the diffusion sampler's knobs: it runs only
the rows that differ for it (with and without healing and scope, context 256 and 512).

  --json OUT       write every figure as JSON
  --markdown OUT   write the table as markdown (for docs/benchmarks.md)
  --tasks FILE     the task suite (default: test/bench/tasks.jsonl)
  --limit N        tasks per kind (single-line, multi-line, random-span), at least 1; default 20
  --quick          4 tasks per kind and the main settings only
  --no-lsp         skip the language-server row (it needs the built dist/cli.js)
  --model DIR, --threads T   as for infill
  --suite realistic          the realistic suite instead (options below)
  --suite soak               the language server's memory over a long editing session (below)

${REALISTIC_USAGE}

${SOAK_USAGE}`;

/** The value of --suite in argv (default: the fixed suite). */
function suiteOf(argv: readonly string[]): string {
  let suite = 'fixed';
  argv.forEach((a, i) => {
    if (a === '--suite' && argv[i + 1] !== undefined) suite = argv[i + 1]!;
    else if (a.startsWith('--suite=')) suite = a.slice('--suite='.length);
  });
  return suite;
}

interface Setting {
  name: string;
  sampler: Partial<SamplerOptions>;
  /** Gap fitting (healing, scope); absent: the engine defaults. */
  fit?: Partial<FitOptions>;
  context: number;
  quick: boolean;
  /**
   * The row means something for an autoregressive ("diffill-arm") model too. Its path has none of the
   * diffusion knobs these rows vary (steps, threshold, cache, guidance), so only gap fitting and the
   * context differ for it.
   */
  arm?: true;
}

// The mechanism rows switch the length rule off (lengthThreshold 0) so that each isolates one idea
// against the one-token-per-step reference; the rows from "engine defaults" on vary one knob of the
// shipped defaults, so their cost reads directly against that row (CFG cost = its p50 / defaults' p50).
const UNCAPPED = { steps: 1 << 16, lengthThreshold: 0 } as const;
const ONE_PER_STEP = { threshold: 1, ...UNCAPPED } as const;

/** The in-process row the language-server row is compared with (same sampler and context). */
const ENGINE_DEFAULTS = 'engine defaults';

/** The settings compared; the first is the baseline every speed-up is relative to. */
const SETTINGS: Setting[] = [
  { name: 'full recompute, 1 token/step (baseline)', sampler: { cache: false, ...ONE_PER_STEP }, context: 512, quick: true },
  { name: 'full recompute, threshold 0.9', sampler: { cache: false, threshold: 0.9, ...UNCAPPED }, context: 512, quick: false },
  { name: 'cached, 1 token/step', sampler: { cache: true, ...ONE_PER_STEP }, context: 512, quick: true },
  { name: 'cached, threshold 0.9', sampler: { cache: true, threshold: 0.9, ...UNCAPPED }, context: 512, quick: true },
  { name: 'cached, threshold 0.7', sampler: { cache: true, threshold: 0.7, ...UNCAPPED }, context: 512, quick: false },
  { name: 'cached, threshold 0.5', sampler: { cache: true, threshold: 0.5, ...UNCAPPED }, context: 512, quick: false },
  { name: 'cached, threshold 0.9, refresh every 4', sampler: { cache: true, threshold: 0.9, cacheRefresh: 4, ...UNCAPPED }, context: 512, quick: false },
  { name: 'cached, threshold 0.9, at most 8 steps', sampler: { cache: true, threshold: 0.9, ...UNCAPPED, steps: 8 }, context: 512, quick: false },
  { name: 'cached, 1 token/step, length first (0.2)', sampler: { cache: true, ...ONE_PER_STEP, lengthThreshold: 0.2 }, context: 512, quick: false },
  { name: 'cached, threshold 0.9, length first (0.2)', sampler: { cache: true, threshold: 0.9, ...UNCAPPED, lengthThreshold: 0.2 }, context: 512, quick: true },
  // The landed engine's boundary handling, measured in the same run as the defaults: the cost (or
  // saving) of token healing, the answer scope and the repetition guard reads against the next row.
  { name: 'engine defaults without healing, scope or repetition guard', sampler: { repeatGuard: false }, fit: { heal: false, scope: false }, context: 512, quick: true, arm: true },
  { name: ENGINE_DEFAULTS, sampler: {}, context: 512, quick: true, arm: true },
  { name: 'engine defaults, at most 6 steps', sampler: { steps: 6 }, context: 512, quick: false },
  { name: 'engine defaults, CFG 0.5', sampler: { guidance: 0.5 }, context: 512, quick: true },
  { name: 'engine defaults, CFG 1', sampler: { guidance: 1 }, context: 512, quick: false },
  { name: 'engine defaults, context 256', sampler: {}, context: 256, quick: false, arm: true },
  // No row above 512: the shipped model reads 512 tokens in all (max_position), so a larger setting
  // decodes the very canvas of the 512 row (the engine cuts the context to fit).
];

interface Row {
  setting: string;
  sampler: Partial<SamplerOptions>;
  context: number;
  tasks: number;
  p50_ms: number;
  p95_ms: number;
  single_line_p50_ms: number;
  single_line_p95_ms: number;
  mean_forwards: number;
  tokens_per_forward: number;
  exact_match: number;
  edit_similarity: number;
  by_kind: Record<string, { tasks: number; p50_ms: number; p95_ms: number; exact_match: number; edit_similarity: number; tokens_per_forward: number }>;
}

async function runSetting(engine: Engine, tasks: Task[], s: Setting): Promise<Row> {
  const results: Array<{ kind: string; ms: number; forwards: number; tokens: number; em: boolean; es: number }> = [];
  for (const t of tasks) {
    const r = await engine.infill({ prefix: t.prompt, suffix: t.suffix, maxTokens: t.max_tokens, sampler: s.sampler, context: { maxContextTokens: s.context }, ...(s.fit ? { fit: s.fit } : {}) });
    results.push({ kind: t.kind, ms: r.latencyMs, forwards: r.forwards, tokens: r.tokens, em: exactMatch(r.text, t.middle), es: editSimilarity(r.text, t.middle) });
  }
  const summarize = (rs: typeof results) => ({
    tasks: rs.length,
    p50_ms: percentile(rs.map((r) => r.ms), 0.5),
    p95_ms: percentile(rs.map((r) => r.ms), 0.95),
    exact_match: rs.filter((r) => r.em).length / Math.max(1, rs.length),
    edit_similarity: rs.reduce((a, r) => a + r.es, 0) / Math.max(1, rs.length),
    tokens_per_forward: rs.reduce((a, r) => a + r.tokens, 0) / Math.max(1, rs.reduce((a, r) => a + r.forwards, 0)),
  });
  const all = summarize(results);
  const byKind: Row['by_kind'] = {};
  for (const kind of [...new Set(results.map((r) => r.kind))]) byKind[kind] = summarize(results.filter((r) => r.kind === kind));
  return {
    setting: s.name,
    sampler: s.sampler,
    context: s.context,
    tasks: all.tasks,
    p50_ms: all.p50_ms,
    p95_ms: all.p95_ms,
    single_line_p50_ms: byKind['single-line']?.p50_ms ?? NaN,
    single_line_p95_ms: byKind['single-line']?.p95_ms ?? NaN,
    mean_forwards: results.reduce((a, r) => a + r.forwards, 0) / Math.max(1, results.length),
    tokens_per_forward: all.tokens_per_forward,
    exact_match: all.exact_match,
    edit_similarity: all.edit_similarity,
    by_kind: byKind,
  };
}

function markdown(rows: Row[], lsp: LspRow | null, meta: Record<string, unknown>): string {
  const f = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '–');
  const base = rows[0]!;
  const lines = [
    `Machine: ${String(meta['cpu'])}, ${String(meta['threads'])} threads, load average ${String(meta['load_average_1m'])} at the end; model: ${String(meta['model'])}; ${String(meta['tasks'])} tasks; ${String(meta['date'])}`,
    `Command: \`${String(meta['command'])}\``,
    '',
    '| setting | ctx | p50 ms | p95 ms | single-line p50 / p95 ms | forwards | tokens/forward | exact match | edit sim. | speed-up (p50) |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.setting} | ${r.context} | ${f(r.p50_ms)} | ${f(r.p95_ms)} | ${f(r.single_line_p50_ms)} / ${f(r.single_line_p95_ms)} | ${f(r.mean_forwards, 1)} | ${f(r.tokens_per_forward, 2)} | ${f(100 * r.exact_match, 1)} % | ${f(r.edit_similarity, 3)} | ${f(base.p50_ms / r.p50_ms, 1)}x |`,
    ),
  ];
  if (lsp !== null) {
    // Single-line tasks only, so its speed-up is against the baseline's single-line p50, and the
    // server does not report forwards.
    lines.push(
      `| ${lsp.setting}, single-line tasks | ${lsp.context} | ${f(lsp.p50_ms)} | ${f(lsp.p95_ms)} | ${f(lsp.single_line_p50_ms)} / ${f(lsp.single_line_p95_ms)} | – | – | ${f(100 * lsp.exact_match, 1)} % | ${f(lsp.edit_similarity, 3)} | ${f(base.single_line_p50_ms / lsp.p50_ms, 1)}x (single-line) |`,
    );
    const o = lsp.overhead;
    lines.push(
      '',
      `LSP row: ${lsp.tasks} single-line tasks, each in a fresh document, after ${lsp.warmup_requests} warm-up requests; ` +
        `round trip from sending \`textDocument/inlineCompletion\` to its response, debounce 0; ` +
        `the server's own model time p50 / p95 ${f(lsp.server_model_p50_ms)} / ${f(lsp.server_model_p95_ms)} ms, ` +
        `the rest of the round trip (pipes, JSON-RPC, document handling) p50 ${f(lsp.outside_model_p50_ms, 1)} ms; ${lsp.empty} empty answers.`,
      o === null
        ? `Server overhead: not computed (no "${ENGINE_DEFAULTS}" row in this run).`
        : `Server overhead vs the in-process "${o.vs}" row (single-line p50 ${f(o.engine_single_line_p50_ms)} ms): ` +
            `${f(o.ratio_p50, 2)}x at p50 (${o.added_p50_ms >= 0 ? '+' : ''}${f(o.added_p50_ms)} ms).`,
    );
  }
  return lines.join('\n') + '\n';
}

export const command: Command = {
  name: 'bench',
  summary: 'Benchmark the sampler settings on the fixed infill task suite',
  usage: USAGE,
  async run(argv) {
    const suite = suiteOf(argv);
    if (suite === 'realistic') return benchRealistic(argv);
    if (suite === 'soak') return benchSoak(argv);
    if (suite !== 'fixed') throw new UsageError(`unknown suite '${suite}' (suites: fixed, realistic, soak)\n\n${USAGE}`);
    const { values, positionals } = parseEngineArgs(argv, {
      suite: { type: 'string' },
      json: { type: 'string' },
      markdown: { type: 'string' },
      tasks: { type: 'string' },
      limit: { type: 'string' },
      quick: { type: 'boolean' },
      'no-lsp': { type: 'boolean' },
    });
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}' (see diffill bench --help)`);
    const flags = engineFlags(values);
    const tasksFile = values.tasks ?? join(packageRoot(), 'test', 'bench', 'tasks.jsonl');
    if (!existsSync(tasksFile)) throw new CommandError(`no task suite at ${tasksFile} (make it with test/bench/extract-tasks.ts)`);
    const quick = values.quick === true;
    const limit = positiveIntFlag('limit', values.limit) ?? (quick ? 4 : 20);
    // Where the results go is checked before the run, not found wrong after it.
    if (values.json !== undefined) checkWritableFile('json', values.json);
    if (values.markdown !== undefined) checkWritableFile('markdown', values.markdown);
    const all = readTasks(tasksFile, readFileSync(tasksFile, 'utf8'));
    const tasks: Task[] = [];
    for (const kind of [...new Set(all.map((t) => t.kind))]) tasks.push(...all.filter((t) => t.kind === kind).slice(0, limit));
    const engine = await loadModel(flags.model, flags.threads !== undefined ? { threads: flags.threads } : {});
    const rows: Row[] = [];
    try {
      // Warm-up: the first runs pay for ONNX Runtime's lazy initialisation and page faults.
      for (const t of tasks.slice(0, 2)) await engine.infill({ prefix: t.prompt, suffix: t.suffix, maxTokens: t.max_tokens });
      const arm = engine.model.config.format === 'diffill-arm';
      for (const s of SETTINGS.filter((x) => (!quick || x.quick) && (!arm || x.arm === true))) {
        const row = await runSetting(engine, tasks, s);
        rows.push(row);
        process.stderr.write(
          `${row.setting} (ctx ${row.context}): p50 ${row.p50_ms.toFixed(0)} ms, p95 ${row.p95_ms.toFixed(0)} ms, ` +
            `${row.tokens_per_forward.toFixed(2)} tok/fwd, EM ${(100 * row.exact_match).toFixed(1)} %, ES ${row.edit_similarity.toFixed(3)}\n`,
        );
      }
    } finally {
      await engine.dispose();
    }
    // After the in-process rows, with their engine disposed: the server gets the CPU to itself.
    let lsp: LspRow | null = null;
    const singleLine = tasks.filter((t) => t.kind === 'single-line');
    if (values['no-lsp'] === true) {
      // skipped on request
    } else if (singleLine.length === 0) {
      process.stderr.write('LSP row skipped: the suite has no single-line tasks\n');
    } else {
      process.stderr.write(`LSP inlineCompletion over stdio: starting the language server (${LSP_WARMUP} warm-up requests, then ${singleLine.length} tasks)\n`);
      lsp = await benchLsp({ model: flags.model, threads: flags.threads, tasks: singleLine, contextTokens: 512 });
      const engineRow = rows.find((r) => r.setting === ENGINE_DEFAULTS);
      if (engineRow !== undefined && Number.isFinite(engineRow.single_line_p50_ms)) {
        lsp.overhead = {
          vs: ENGINE_DEFAULTS,
          engine_single_line_p50_ms: engineRow.single_line_p50_ms,
          ratio_p50: lsp.p50_ms / engineRow.single_line_p50_ms,
          added_p50_ms: lsp.p50_ms - engineRow.single_line_p50_ms,
        };
      }
      process.stderr.write(
        `${lsp.setting}: p50 ${lsp.p50_ms.toFixed(0)} ms, p95 ${lsp.p95_ms.toFixed(0)} ms, EM ${(100 * lsp.exact_match).toFixed(1)} %, ES ${lsp.edit_similarity.toFixed(3)}` +
          (lsp.overhead !== null ? `, ${lsp.overhead.ratio_p50.toFixed(2)}x the in-process p50\n` : '\n'),
      );
    }
    const meta = {
      date: new Date().toISOString(),
      // Other processes on the machine slow every row; the 1-minute load average at the end says how much.
      load_average_1m: Math.round(loadavg()[0]! * 100) / 100,
      command: `diffill bench ${argv.join(' ')}`.trim(),
      cpu: `${cpus()[0]?.model ?? 'unknown CPU'} (${availableParallelism()} CPUs)`,
      threads: flags.threads ?? availableParallelism(),
      model: engine.model.config.name,
      model_dir: flags.model,
      quantized: engine.model.config.quantized,
      tasks: tasks.length,
      tasks_file: tasksFile,
    };
    const md = markdown(rows, lsp, meta);
    output.write(md);
    if (values.json !== undefined) writeFileSync(values.json, JSON.stringify({ meta, rows, lsp }, null, 2) + '\n');
    if (values.markdown !== undefined) writeFileSync(values.markdown, md);
    return 0;
  },
};

export default command;
