// Latency per request of one model on 2 threads, for the table of docs/models.md: ghost-text infills
// (single-line tasks of the bench suite, a 512-token context budget), Fill Blanks on
// examples/blanks.py (three blanks) and Write What Comes Before on examples/before.ts line 5. Medians
// after one warm-up request of each kind; prints one JSON line.
//
//   node --import tsx test/bench/imported-latency.ts MODEL_DIR [REQUESTS]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../../server/engine/index';

const ROOT = join(__dirname, '..', '..');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

async function main(): Promise<void> {
  const dir = process.argv[2];
  if (dir === undefined) throw new Error('usage: imported-latency.ts MODEL_DIR [REQUESTS]');
  const n = Number(process.argv[3] ?? 9);
  const t0 = Date.now();
  const engine = await loadModel(dir, { threads: 2, allowSpinning: false });
  const loadMs = Date.now() - t0;
  const tasks = readFileSync(join(__dirname, 'tasks.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as { kind: string; prompt: string; suffix: string })
    .filter((t) => t.kind === 'single-line')
    .slice(0, n + 1);
  const context = { maxContextTokens: 512 };
  const infill: number[] = [];
  for (const [i, t] of tasks.entries()) {
    const r = await engine.infill({ prefix: t.prompt, suffix: t.suffix, context });
    if (i > 0) infill.push(r.latencyMs);
  }
  const text = readFileSync(join(ROOT, 'examples', 'blanks.py'), 'utf8');
  const blanks = [...text.matchAll(/_{3,}/g)].map((m) => ({ start: m.index!, end: m.index! + m[0].length }));
  const fill: number[] = [];
  for (let i = 0; i <= Math.min(n, 5); i++) {
    const r = await engine.fill({ text, blanks, context });
    if (i > 0) fill.push(r.latencyMs);
  }
  const lines = readFileSync(join(ROOT, 'examples', 'before.ts'), 'utf8').split('\n');
  const before: number[] = [];
  for (let i = 0; i <= Math.min(n, 5); i++) {
    const r = await engine.before({ prefix: lines.slice(0, 4).join('\n') + '\n', suffix: lines.slice(4).join('\n'), context });
    if (i > 0) before.push(r.latencyMs);
  }
  const cfg = engine.model.config;
  process.stdout.write(
    JSON.stringify({
      model: dir,
      quantized: cfg.quantized,
      load_ms: loadMs,
      infill_p50_ms: Math.round(median(infill)),
      fill_p50_ms: Math.round(median(fill)),
      before_p50_ms: Math.round(median(before)),
      requests: { infill: infill.length, fill: fill.length, before: before.length },
    }) + '\n',
  );
  await engine.dispose();
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
