// Per-forward costs of a model on this machine: the full pass (what full recompute pays every step, and
// the cached path once per request) and the span-only cached step, at several context lengths, with and
// without the guidance row, plus the JS scoring of one step. Speed does not depend on the weights, so
// any model of the right architecture gives the shipped model's figures.
//
//   node --import tsx test/bench/step-costs.ts MODEL_DIR [THREADS]
import { createDenoiser } from '../../server/engine/denoiser';
import { openModel } from '../../server/engine/model';
import { chooseGreedy } from '../../server/engine/scoring';

async function median(f: () => Promise<unknown>, n: number): Promise<number> {
  await f();
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await f();
    xs.push(performance.now() - t);
  }
  xs.sort((a, b) => a - b);
  return xs[n >> 1]!;
}

async function main(): Promise<void> {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: step-costs.ts MODEL_DIR [THREADS]');
  const threads = Number(process.argv[3] ?? 2);
  const m = await openModel(dir, { threads });
  const mask = m.config.special.mask!;
  const V = m.config.vocabSize;
  const n = 32;
  process.stdout.write(`| context | span | guidance | full pass ms | cached span step ms |\n|---|---|---|---|---|\n`);
  for (const ctx of [256, 512, 1024]) {
    const L = ctx + n;
    const start = Math.round(ctx * 0.75);
    const canvas = Int32Array.from({ length: L }, (_, i) => (i >= start && i < start + n ? mask : 10 + ((i * 7919) % 4000)));
    const span = Array.from({ length: n }, (_, i) => start + i);
    const context = Array.from({ length: L }, (_, i) => i).filter((i) => i < start || i >= start + n);
    const layout = { length: L, spanPositions: span, contextPositions: context };
    for (const guidance of [0, 1]) {
      const full = await median(() => createDenoiser(m, layout, { guidance, cache: true, cacheRefresh: 0 }).logits(canvas, span, 0), 5);
      const d = createDenoiser(m, layout, { guidance, cache: true, cacheRefresh: 0 });
      await d.logits(canvas, span, 0);
      let s = 1;
      const step = await median(() => d.logits(canvas, span, s++), 15);
      process.stdout.write(`| ${ctx} | ${n} | ${guidance} | ${full.toFixed(1)} | ${step.toFixed(1)} |\n`);
    }
  }
  const out = await createDenoiser(m, { length: n, spanPositions: Array.from({ length: n }, (_, i) => i), contextPositions: [] }, { guidance: 0, cache: false, cacheRefresh: 0 })
    .logits(new Int32Array(n).fill(mask), Array.from({ length: n }, (_, i) => i), 0);
  const score = await median(async () => {
    for (let i = 0; i < n; i++) chooseGreedy(out.subarray(i * V, (i + 1) * V), mask);
  }, 15);
  process.stdout.write(`\nJS scoring of one step (${n} masked positions, float64 softmax over ${V}): ${score.toFixed(1)} ms\n`);
  await m.dispose();
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
