// Single-line latency of this tree's engine against another checkout's (the landed main, say), both
// loaded in one process on the same model and run task by task in alternating order, so that load
// from other work on the machine falls on both alike. Wall time, process CPU time (the engine's
// threads included) and forwards per request, on the fixed suite's single-line tasks:
//
//   git worktree add ../baseline <commit> && ln -s "$PWD/node_modules" ../baseline/node_modules
//   node --import tsx test/bench/ab-engine.ts --baseline ../baseline [--model DIR] [--threads T] [--rounds N] [--json OUT]
//
// A benchmark, not a test: figures go in docs/benchmarks.md ("Speed").
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel } from '../../server/engine/engine';

const ROOT = resolve(__dirname, '..', '..');

interface Task {
  prompt: string;
  suffix: string;
  max_tokens: number;
}

interface Side {
  infill(r: { prefix: string; suffix: string; maxTokens: number }): Promise<{ forwards: number }>;
  dispose(): Promise<void>;
}

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      baseline: { type: 'string' },
      model: { type: 'string', default: join(ROOT, 'models', 'default') },
      threads: { type: 'string', default: '2' },
      rounds: { type: 'string', default: '1' },
      json: { type: 'string' },
    },
  });
  if (values.baseline === undefined) {
    process.stderr.write('ab-engine: --baseline DIR (a checkout of the engine to compare against) is required\n');
    process.exit(2);
  }
  const threads = Number(values.threads);
  const rounds = Number(values.rounds);
  const baseMod = (await import(resolve(values.baseline, 'server', 'engine', 'engine.ts'))) as { loadModel: typeof loadModel };
  const sides: Record<'baseline' | 'now', Side> = {
    baseline: await baseMod.loadModel(values.model!, { threads }),
    now: await loadModel(values.model!, { threads }),
  };
  const tasks: Task[] = readFileSync(join(ROOT, 'test', 'bench', 'tasks.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Task & { kind: string })
    .filter((t) => t.kind === 'single-line');
  const request = (t: Task) => ({ prefix: t.prompt, suffix: t.suffix, maxTokens: t.max_tokens });
  // Warm-up: the first requests pay for graph optimisation and allocation.
  for (const t of tasks.slice(0, 3)) for (const s of Object.values(sides)) await s.infill(request(t));
  const wall = { baseline: [] as number[], now: [] as number[] };
  const cpu = { baseline: [] as number[], now: [] as number[] };
  const forwards = { baseline: 0, now: 0 };
  const run = async (name: 'baseline' | 'now', t: Task) => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const r = await sides[name].infill(request(t));
    wall[name].push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu[name].push((c.user + c.system) / 1000);
    forwards[name] += r.forwards;
  };
  for (let k = 0; k < rounds; k++) {
    for (const [i, t] of tasks.entries()) {
      const order: Array<'baseline' | 'now'> = (i + k) % 2 === 0 ? ['baseline', 'now'] : ['now', 'baseline'];
      for (const name of order) await run(name, t);
    }
  }
  const side = (name: 'baseline' | 'now') => ({
    p50_ms: quantile(wall[name], 0.5),
    p95_ms: quantile(wall[name], 0.95),
    cpu_p50_ms: quantile(cpu[name], 0.5),
    forwards: forwards[name] / wall[name].length,
  });
  const report = {
    tasks: tasks.length,
    rounds,
    threads,
    baseline: values.baseline,
    load_average_end: loadavg()[0],
    baseline_engine: side('baseline'),
    now: side('now'),
    ratio_p50: quantile(wall.now, 0.5) / quantile(wall.baseline, 0.5),
    ratio_cpu_p50: quantile(cpu.now, 0.5) / quantile(cpu.baseline, 0.5),
    median_paired_ratio: quantile(wall.now.map((x, i) => x / wall.baseline[i]!), 0.5),
  };
  const text = JSON.stringify(report, null, 2);
  process.stdout.write(text + '\n');
  if (values.json !== undefined) writeFileSync(values.json, text + '\n');
  for (const s of Object.values(sides)) await s.dispose();
}

void main();
