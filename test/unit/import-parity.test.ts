// `diffill import` end to end: randomly initialised checkpoints in SMDM's and Qwen2's own formats
// (tiny versions of the published shapes) are converted, served by the engine, and decoded greedily
// token for token as the PyTorch reference sampler decodes them over a forward written in the source's
// own layout (diffill_trainer/imports/greedy.py); the command's mistakes are one line with exit 2 or 1.
// The Qwen2-style model is imported with the default logit shift of --from hf (Open-dCoder's: position
// i's logits come from the output at i - 1) and decoded through both the full recompute and the cached
// path; a copy served without the shift shows what the engine did before it knew of one.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createDenoiser } from '../../server/engine/denoiser';
import { type Engine, loadModel } from '../../server/engine/engine';
import { resolveSampler } from '../../server/engine/options';
import { sample } from '../../server/engine/sampler';
import { pythonJson, ROOT, runTrainer } from '../helpers/tiny-model';

const work = mkdtempSync(join(tmpdir(), 'diffill-import-'));

interface Files {
  checkpoint: string;
  tokenizer: string;
}
interface RefResult {
  tokens: number[];
  span: number[];
  forwards: number;
  trace: Array<Array<[number, number]>>;
}

function cli(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'server', 'src', 'cli.ts'), ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function assertOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.split('\n').filter((l) => l !== '' && !l.startsWith('import: '));
  assert.equal(lines.length, 1, `expected one error line, got:\n${stderr}`);
  assert.match(lines[0]!, /^diffill: /);
  assert.doesNotMatch(stderr, /\n\s+at |Traceback|node:internal/);
  assert.match(lines[0]!, pattern);
}

function samples(source: 'smdm' | 'qwen2', out: string): Files {
  return JSON.parse(runTrainer(['-m', 'diffill_trainer.imports.samples', source, out, '--head-scale', '12'])) as Files;
}

function convert(args: string[]): void {
  runTrainer(['-m', 'diffill_trainer.imports', ...args]);
}

const REFERENCE = `
import sys
from diffill_trainer.imports.greedy import main
sys.exit(main(["--model", sys.argv[1], "--checkpoint", sys.argv[2], "--ids-json", "-"]))
`;

const EOS_LIKELY = `
import sys, torch
from safetensors.torch import load_file, save_file
from diffill_trainer.imports import smdm
state = load_file(sys.argv[1])
ref = smdm.Reference(state, smdm.infer_config(state, None, 1.0, 4, 2))
canvas = torch.tensor([[1] + list(range(10, 30)) + [640] * 24 + list(range(40, 50))])
top = torch.bincount(ref(canvas)[0, 21:45].argmax(-1)).argmax()
state["lm_head.weight"][2] = state["lm_head.weight"][top] * 1.05
save_file(state, sys.argv[2])
`;

let smdm: Files;
let qwen: Files;
const models: Record<string, { dir: string; engine?: Engine; checkpoint: string }> = {};

before(async () => {
  smdm = samples('smdm', join(work, 'smdm'));
  qwen = samples('qwen2', join(work, 'qwen2'));
  const tiny = ['--n-head', '4', '--n-query-groups', '2'];
  convert(['--from', 'smdm', '--checkpoint', smdm.checkpoint, '--tokenizer', smdm.tokenizer, '--out', join(work, 'm-smdm'), '--no-int8', ...tiny]);
  // Random weights almost never predict EOS; this copy's EOS head row is the row of the token the model
  // prefers most at masked positions, a little larger, so that answers do end at an EOS.
  const eosCheckpoint = join(work, 'smdm', 'eos.safetensors');
  runTrainer(['-c', EOS_LIKELY, smdm.checkpoint, eosCheckpoint]);
  convert(['--from', 'smdm', '--checkpoint', eosCheckpoint, '--tokenizer', smdm.tokenizer, '--out', join(work, 'm-smdm-eos'), '--no-int8', '--length-rule', 'eos', ...tiny]);
  models['smdm'] = { dir: join(work, 'm-smdm'), checkpoint: smdm.checkpoint };
  models['smdm-eos'] = { dir: join(work, 'm-smdm-eos'), checkpoint: eosCheckpoint };
  // The Qwen2 model goes through the command itself (the success path of `diffill import`).
  const r = cli(['import', '--from', 'hf', '--checkpoint', qwen.checkpoint, '--tokenizer', qwen.tokenizer, '--out', join(work, 'm-qwen2'), '--no-int8']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^model written to .*m-qwen2: fp32 graph [\d.]+ MB, max logit difference from the source's forward [\d.]+e-\d+, \d+ s\n$/);
  models['qwen2'] = { dir: join(work, 'm-qwen2'), checkpoint: qwen.checkpoint };
  // The same graph served as the converter wrote it before it knew of the shift (logit_shift 0).
  const unshifted = join(work, 'm-qwen2-unshifted');
  mkdirSync(unshifted);
  for (const f of readdirSync(models['qwen2'].dir)) writeFileSync(join(unshifted, f), readFileSync(join(models['qwen2'].dir, f)));
  const cfg = JSON.parse(readFileSync(join(unshifted, 'config.json'), 'utf8')) as { architecture: Record<string, unknown> };
  cfg.architecture['logit_shift'] = 0;
  writeFileSync(join(unshifted, 'config.json'), JSON.stringify(cfg));
  models['qwen2-unshifted'] = { dir: unshifted, checkpoint: qwen.checkpoint };
  for (const m of Object.values(models)) m.engine = await loadModel(m.dir, { threads: 1 });
});

after(async () => {
  for (const m of Object.values(models)) await m.engine?.dispose();
  rmSync(work, { recursive: true, force: true });
});

interface Case {
  prefix: number[];
  suffix: number[];
  n: number;
  threshold: number;
  length_threshold?: number;
  /** The reference's shift, when not the model's own. */
  logit_shift?: number;
}

/** Deterministic ids from the tokenizer's ordinary range (no special, mask or never-emitted id). */
function ids(seed: number, count: number, lo: number, hi: number): number[] {
  let x = seed * 2654435761 + 1;
  return Array.from({ length: count }, () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return lo + (x % (hi - lo));
  });
}

/** The engine's greedy decoding of each case: per-step commits, tokens and forwards. */
async function decode(engine: Engine, c: Case, cached: boolean): Promise<RefResult> {
  const mask = engine.model.config.special.mask!;
  const canvas = { ids: Int32Array.from([...c.prefix, ...new Array<number>(c.n).fill(mask), ...c.suffix]), spans: [{ start: c.prefix.length, length: c.n }] };
  const trace: Array<Array<[number, number]>> = [];
  // The cached path re-encodes the context every step (cacheRefresh 1): the exact form of that path,
  // so that it too can be held to the reference token for token.
  const got = await sample(
    engine.model,
    canvas,
    resolveSampler({ threshold: c.threshold, steps: 1000, cache: cached, cacheRefresh: 1, lengthThreshold: c.length_threshold ?? 0, repeatGuard: false }),
    undefined,
    (_s, commits) => trace.push(commits),
  );
  return { tokens: got.spans[0]!, span: [], forwards: got.forwards, trace };
}

async function parity(name: string, cases: Case[], paths: readonly boolean[] = [false]): Promise<RefResult[]> {
  const m = models[name]!;
  const ref = pythonJson<RefResult[]>(REFERENCE, [m.dir, m.checkpoint], cases);
  for (const cached of paths) {
    for (const [i, c] of cases.entries()) {
      const got = await decode(m.engine!, c, cached);
      const what = `${name} case ${i}${cached ? ' (cached path)' : ''}`;
      assert.deepEqual(got.trace, ref[i]!.trace, `${what}: per-step commits`);
      assert.deepEqual(got.tokens, ref[i]!.tokens, `${what}: tokens`);
      assert.equal(got.forwards, ref[i]!.forwards, `${what}: forwards`);
    }
  }
  return ref;
}

test('an imported SMDM model (fixed-length canvas, extra mask row, untied head) decodes as the lit-gpt reference does', async () => {
  const cfg = models['smdm']!.engine!.model.config;
  assert.equal(cfg.special.mask, 640);
  assert.equal(cfg.special.pad, null);
  assert.equal(cfg.lengthRule, 'fixed');
  const cases: Case[] = [1.0, 0.75, 0.5, 0.3].map((threshold, k) => ({ prefix: [1, ...ids(k, 9, 3, 640)], suffix: ids(k + 10, 6, 3, 640), n: 10, threshold }));
  const ref = await parity('smdm', cases);
  assert.ok(ref.some((r) => r.trace.some((t) => t.length > 1)), 'no step committed several tokens');
  assert.ok(ref.every((r) => r.tokens.length === 10), 'a fixed-length answer fills its whole canvas');
});

test('an SMDM model with the EOS-as-padding rule ends its answer at the first EOS, as the reference does', async () => {
  const cfg = models['smdm-eos']!.engine!.model.config;
  assert.equal(cfg.lengthRule, 'eos');
  assert.equal(cfg.endId, 2);
  const cases: Case[] = [0, 0.3, 0.6, 0.9].map((lt, k) => ({ prefix: [1, ...ids(k + 20, 8, 3, 640)], suffix: ids(k + 30, 5, 3, 640), n: 12, threshold: 0.6, length_threshold: lt }));
  const ref = await parity('smdm-eos', cases);
  assert.ok(ref.some((r) => r.tokens.length < 12), 'no case ended early with EOS');
});

test('an imported Qwen2-style model (grouped K/V heads, q/k/v biases, padded embedding) decodes as the HF-layout reference does', async () => {
  const cfg = models['qwen2']!.engine!.model.config;
  assert.equal(cfg.nKvHead, 2);
  assert.equal(cfg.qkvBias, true);
  assert.equal(cfg.emitVocabSize, 8192);
  assert.equal(cfg.vocabSize, 8256);
  assert.equal(cfg.special.bos, null);
  assert.equal(cfg.logitShift, 1, "--from hf imports Open-dCoder's shifted head by default");
  const cases: Case[] = [1.0, 0.75, 0.5].map((threshold, k) => ({ prefix: ids(k + 40, 9, 300, 8000), suffix: ids(k + 50, 6, 300, 8000), n: 10, threshold }));
  // A span at the canvas start has no token before it: position 0 reads its own output, as the source's sampler does.
  cases.push({ prefix: [], suffix: ids(60, 8, 300, 8000), n: 6, threshold: 0.75 });
  const ref = await parity('qwen2', cases, [false, true]);
  assert.ok(ref.some((r) => r.trace.some((t) => t.length > 1)), 'no step committed several tokens');
});

const SHIFT_CASES: Case[] = [1.0, 0.75, 0.5].map((threshold, k) => ({ prefix: ids(k + 70, 9, 300, 8000), suffix: ids(k + 80, 6, 300, 8000), n: 10, threshold }));

test('served without the shift (as before logit_shift existed), the shifted model decodes differently from its reference', async () => {
  const m = models['qwen2-unshifted']!;
  assert.equal(m.engine!.model.config.logitShift, 0);
  const shifted = pythonJson<RefResult[]>(REFERENCE, [m.dir, m.checkpoint], SHIFT_CASES.map((c) => ({ ...c, logit_shift: 1 })));
  const inPlace = pythonJson<RefResult[]>(REFERENCE, [m.dir, m.checkpoint], SHIFT_CASES);
  for (const [i, c] of SHIFT_CASES.entries()) {
    const got = await decode(m.engine!, c, false);
    // The unshifted engine is the in-place reference exactly, so the shift is the whole difference.
    assert.deepEqual(got.tokens, inPlace[i]!.tokens, `case ${i}: the unshifted engine against the in-place reference`);
    assert.notDeepEqual(got.tokens, shifted[i]!.tokens, `case ${i}: the unshifted engine agreed with the shifted reference`);
  }
});

test('a shifted model: a cached span step equals the full recompute, with a span at position 0, a one-token gap between spans, and guidance', async () => {
  const engine = models['qwen2']!.engine!;
  const model = engine.model;
  const mask = model.config.special.mask!;
  // Spans [0, 3), [5, 9) and [10, 14): context 3-4, 9 (the predecessor of the third span) and 14-19.
  const spans = [[0, 3], [5, 9], [10, 14]] as const;
  const L = 20;
  const spanPositions = spans.flatMap(([a, b]) => Array.from({ length: b - a }, (_, i) => a + i));
  const contextPositions = Array.from({ length: L }, (_, i) => i).filter((p) => !spanPositions.includes(p));
  const text = ids(90, L, 300, 8000);
  // Partly decoded spans: every other span position still masked.
  const canvas = Int32Array.from(text.map((t, p) => (spanPositions.includes(p) && p % 2 === 0 ? mask : t)));
  const masked = spanPositions.filter((p) => canvas[p] === mask);
  const allMasked = Int32Array.from(text.map((t, p) => (spanPositions.includes(p) ? mask : t)));
  const vocab = model.config.vocabSize;
  const emitted = model.config.emitVocabSize;
  const maxDiff = (a: Float32Array, b: Float32Array): number => {
    let d = 0;
    for (let i = 0; i < a.length; i++) if (i % vocab < emitted) d = Math.max(d, Math.abs(a[i]! - b[i]!));
    return d;
  };
  for (const guidance of [0, 0.5]) {
    for (const c of [canvas, allMasked]) {
      const positions = c === canvas ? masked : spanPositions;
      const layout = { length: L, spanPositions, contextPositions };
      const full = await createDenoiser(model, layout, { guidance, cache: false, cacheRefresh: 0 }).logits(c, positions, 0);
      const inPlace = await createDenoiser(models['qwen2-unshifted']!.engine!.model, layout, { guidance, cache: false, cacheRefresh: 0 }).logits(c, positions, 0);
      assert.ok(maxDiff(full, inPlace) > 0.1, 'the shift changed no logit');
      const cached = createDenoiser(model, layout, { guidance, cache: true, cacheRefresh: 0 });
      const refill = await cached.logits(c, positions, 0);
      const fills = cached.fullForwards;
      const step = await cached.logits(c, positions, 1);
      assert.equal(cached.fullForwards, fills, 'the second call was a span step');
      const what = `guidance ${guidance}, ${c === canvas ? 'partly decoded' : 'all masked'}`;
      assert.ok(maxDiff(refill, full) < 1e-4, `${what}: the cache fill's logits differ from the full recompute by ${maxDiff(refill, full)}`);
      assert.ok(maxDiff(step, full) < 1e-4, `${what}: the span step differs from the full recompute by ${maxDiff(step, full)}`);
    }
  }
});

test('diffill import: a wrong command line exits 2, a bad checkpoint 1, each in one line, and --out stays as it was', () => {
  const out = join(work, 'out-taken');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'keep.txt'), 'previous');
  let r = cli(['import', '--checkpoint', smdm.checkpoint, '--tokenizer', smdm.tokenizer, '--out', out]);
  assert.equal(r.code, 2);
  assertOneLine(r.stderr, /^diffill: --from is required \(smdm or hf\)$/);
  r = cli(['import', '--from', 'gguf', '--checkpoint', smdm.checkpoint, '--tokenizer', smdm.tokenizer, '--out', out]);
  assert.equal(r.code, 2);
  assertOneLine(r.stderr, /^diffill: unknown --from 'gguf' \(use smdm or hf\)$/);
  r = cli(['import', '--from', 'smdm', '--checkpoint', smdm.checkpoint, '--tokenizer', smdm.tokenizer, '--out', out, '--mask-id', '5']);
  assert.equal(r.code, 2);
  assertOneLine(r.stderr, /--mask-id is for --from hf only/);
  r = cli(['import', '--from', 'smdm', '--checkpoint', smdm.checkpoint, '--tokenizer', smdm.tokenizer, '--out', out, '--logit-shift', '1']);
  assert.equal(r.code, 2);
  assertOneLine(r.stderr, /^diffill: --logit-shift is for --from hf only \(SMDM predicts each position in place\)$/);
  r = cli(['import', '--from', 'hf', '--checkpoint', qwen.checkpoint, '--tokenizer', qwen.tokenizer, '--out', out, '--logit-shift', '2']);
  assert.equal(r.code, 2);
  assertOneLine(r.stderr, /^diffill: --logit-shift needs 0 or 1, got '2'$/);
  r = cli(['import', '--from', 'smdm', '--checkpoint', smdm.checkpoint, '--tokenizer', smdm.tokenizer, '--out', out]);
  assert.equal(r.code, 2);
  assertOneLine(r.stderr, new RegExp(`^diffill: --out ${out} already exists; pass --force to replace it$`));
  r = cli(['import', '--from', 'smdm', '--checkpoint', join(work, 'nothing.pth'), '--tokenizer', smdm.tokenizer, '--out', out, '--force']);
  assert.equal(r.code, 1);
  assertOneLine(r.stderr, /^diffill: --checkpoint .*nothing\.pth: no such file or folder$/);
  // The converter's own refusal: no published SMDM configuration has this shape and no --n-head was given.
  r = cli(['import', '--from', 'smdm', '--checkpoint', smdm.checkpoint, '--tokenizer', smdm.tokenizer, '--out', out, '--force']);
  assert.equal(r.code, 1);
  assertOneLine(r.stderr, /^diffill: import failed: the checkpoint \(2 layers, width 64, MLP 96\) matches no published SMDM configuration: .* or give --n-head$/);
  // A tokenizer that does not fit the head.
  r = cli(['import', '--from', 'smdm', '--checkpoint', smdm.checkpoint, '--tokenizer', qwen.tokenizer, '--out', out, '--force', '--n-head', '4', '--n-query-groups', '2']);
  assert.equal(r.code, 1);
  assertOneLine(r.stderr, /^diffill: import failed: the tokenizer has 8192 tokens but the checkpoint's embedding has 640 rows$/);
  assert.deepEqual(readdirSync(out), ['keep.txt']);
  assert.equal(readFileSync(join(out, 'keep.txt'), 'utf8'), 'previous');
  assert.ok(!readdirSync(work).some((n) => n.startsWith('out-taken.tmp-')), 'a temporary folder was left behind');
  assert.ok(existsSync(join(models['qwen2']!.dir, 'README.md')));
});
