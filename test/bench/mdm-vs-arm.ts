// Latency of a masked diffusion model against an autoregressive one (format diffill-arm), both loaded
// in one process and run task by task in alternating order on the fixed suite (test/bench/tasks.jsonl),
// engine defaults, so that load from other work on the machine falls on both alike. Per model: p50 /
// p95 wall time per answer (all tasks and single-line), forwards and tokens per answer, exact match and
// edit similarity (the same scoring as `diffill bench`).
//
//   node --import tsx test/bench/mdm-vs-arm.ts --mdm DIR --arm DIR [--limit N] [--context T] [--threads T] [--json OUT]
//
// A benchmark, not a test: figures go in docs/benchmarks.md ("Diffusion against an autoregressive baseline").
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel } from '../../server/engine/engine';
import { editSimilarity, exactMatch } from '../../server/src/commands/bench';

const ROOT = resolve(__dirname, '..', '..');

interface Task {
  kind: string;
  prompt: string;
  suffix: string;
  middle: string;
  max_tokens: number;
}

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      mdm: { type: 'string' },
      arm: { type: 'string' },
      limit: { type: 'string', default: '20' },
      context: { type: 'string', default: '512' },
      threads: { type: 'string', default: '2' },
      json: { type: 'string' },
    },
  });
  if (values.mdm === undefined || values.arm === undefined) throw new Error('--mdm DIR and --arm DIR are required');
  const limit = Number(values.limit);
  const threads = Number(values.threads);
  const context = { maxContextTokens: Number(values.context) };
  const all = readFileSync(join(ROOT, 'test', 'bench', 'tasks.jsonl'), 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Task);
  const tasks: Task[] = [];
  for (const kind of [...new Set(all.map((t) => t.kind))]) tasks.push(...all.filter((t) => t.kind === kind).slice(0, limit));
  const sides = [
    { name: 'mdm', engine: await loadModel(values.mdm, { threads, allowSpinning: false }) },
    { name: 'arm', engine: await loadModel(values.arm, { threads, allowSpinning: false }) },
  ];
  const results = new Map(sides.map((s) => [s.name, [] as Array<{ kind: string; ms: number; forwards: number; tokens: number; em: boolean; es: number }>]));
  try {
    for (const s of sides) for (const t of tasks.slice(0, 2)) await s.engine.infill({ prefix: t.prompt, suffix: t.suffix, maxTokens: t.max_tokens, context });
    for (const [i, t] of tasks.entries()) {
      // Alternate which model goes first, so neither always runs right after the other's allocations.
      for (const s of i % 2 === 0 ? sides : [...sides].reverse()) {
        const r = await s.engine.infill({ prefix: t.prompt, suffix: t.suffix, maxTokens: t.max_tokens, context });
        results.get(s.name)!.push({ kind: t.kind, ms: r.latencyMs, forwards: r.forwards, tokens: r.tokens, em: exactMatch(r.text, t.middle), es: editSimilarity(r.text, t.middle) });
      }
    }
  } finally {
    for (const s of sides) await s.engine.dispose();
  }
  const summary = Object.fromEntries(
    [...results].map(([name, rs]) => {
      const single = rs.filter((r) => r.kind === 'single-line');
      const n = Math.max(1, rs.length);
      return [
        name,
        {
          tasks: rs.length,
          p50_ms: quantile(rs.map((r) => r.ms), 0.5),
          p95_ms: quantile(rs.map((r) => r.ms), 0.95),
          single_line_p50_ms: quantile(single.map((r) => r.ms), 0.5),
          single_line_p95_ms: quantile(single.map((r) => r.ms), 0.95),
          forwards_per_answer: rs.reduce((a, r) => a + r.forwards, 0) / n,
          tokens_per_answer: rs.reduce((a, r) => a + r.tokens, 0) / n,
          exact_match: rs.filter((r) => r.em).length / n,
          edit_similarity: rs.reduce((a, r) => a + r.es, 0) / n,
        },
      ];
    }),
  );
  const out = { context: context.maxContextTokens, threads, limit, load_average_1m: loadavg()[0], mdm: values.mdm, arm: values.arm, summary };
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  if (values.json !== undefined) writeFileSync(values.json, JSON.stringify({ ...out, results: Object.fromEntries(results) }, null, 2) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
});
