// A masked-diffusion model with grouped-query attention (architecture.n_kv_head < n_head, as Qwen2-style
// imports have): the K/V the graph takes and gives have n_kv_head heads, and the engine builds every
// cache with that shape (model.ts makeCache and the empty cache, masked-context.ts for guidance).
// Random weights from the trainer's own model code and exporter, with a qkv bias, an untied head and a
// RoPE condense ratio; checked against PyTorch and against the engine's own full recompute.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parameterCount } from '../../server/engine/config';
import { createDenoiser } from '../../server/engine/denoiser';
import { type Engine, loadModel } from '../../server/engine/engine';
import { python, pythonJson, ROOT, TRAINER_DIR } from '../helpers/tiny-model';

const BUILD = `
import json, sys, torch
from pathlib import Path
from diffill_trainer.model import DiffusionLM
from diffill_trainer.presets import ModelConfig
from diffill_trainer.export import export_onnx, verify_fp32
from diffill_trainer.modelio import make_config, save_weights
import shutil
out = Path(sys.argv[1]); tokenizer = sys.argv[2]
out.mkdir(parents=True, exist_ok=True)
shutil.copy(tokenizer, out / "tokenizer.json")
cfg = ModelConfig(n_layer=2, d_model=64, n_head=4, n_kv_head=1, d_ff=128, vocab_size=8192, max_position=128,
                  qkv_bias=True, tied_embeddings=False, rope_condense_ratio=2.0)
torch.manual_seed(5)
m = DiffusionLM(cfg, 3).eval()
with torch.no_grad():
    for name, p in m.named_parameters():
        if p.dim() == 1:
            p.add_(torch.randn_like(p) * 0.3)
        elif name.endswith("wo.weight") or name.endswith("w_down.weight"):
            p.mul_(8.0)  # the blocks' share of the residual stream: the context matters
save_weights(m, out / "model.safetensors", "float32")
export_onnx(m, out / "model.onnx")
verify_fp32(m, out / "model.onnx")
config = make_config("gqa", "tiny", cfg, {"pad": 0, "bos": 1, "eos": 2, "mask": 3}, "float32", False,
                     {"init": None, "seq_len": 128})
(out / "config.json").write_text(json.dumps(config, indent=2) + "\\n")
`;

function gqaModelDir(): string {
  const h = createHash('sha256').update(BUILD);
  const pkg = join(TRAINER_DIR, 'diffill_trainer');
  for (const f of readdirSync(pkg).filter((n) => n.endsWith('.py')).sort()) h.update(f).update(readFileSync(join(pkg, f)));
  const dir = join(ROOT, 'test', '.cache', `gqa-${h.digest('hex').slice(0, 12)}`);
  if (existsSync(join(dir, 'config.json'))) return dir;
  mkdirSync(join(ROOT, 'test', '.cache'), { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    execFileSync(python(), ['-c', BUILD, tmp, join(ROOT, 'models', 'default', 'tokenizer.json')], {
      cwd: TRAINER_DIR,
      env: { ...process.env, PYTHONPATH: TRAINER_DIR, OMP_NUM_THREADS: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    if (existsSync(join(dir, 'config.json'))) rmSync(tmp, { recursive: true, force: true });
    else renameSync(tmp, dir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  // Models built from older trainer sources are never used again (finished builds only).
  const cache = join(ROOT, 'test', '.cache');
  for (const name of readdirSync(cache)) {
    if (name.startsWith('gqa-') && !name.includes('.tmp-') && join(cache, name) !== dir) rmSync(join(cache, name), { recursive: true, force: true });
  }
  return dir;
}

const TORCH_LOGITS = `
import json, sys, torch
from diffill_trainer.modelio import load_model_dir
req = json.load(sys.stdin)
model, cfg = load_model_dir(sys.argv[1])
with torch.no_grad():
    out = model(torch.tensor(req["ids"], dtype=torch.long))
print(json.dumps([[out[b, p].tolist() for p in req["gather"]] for b in range(out.shape[0])]))
`;

let dir: string;
let engine: Engine;
before(async () => {
  dir = gqaModelDir();
  engine = await loadModel(dir, { threads: 1 });
});
after(async () => {
  await engine?.dispose();
});

function seededIds(n: number, vocab: number, seed: number): number[] {
  let x = seed;
  return Array.from({ length: n }, () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return 4 + (x % (vocab - 4));
  });
}

test('the config says one K/V head for four query heads, and the logits match PyTorch within 1e-4', async () => {
  const m = engine.model;
  assert.equal(m.config.nHead, 4);
  assert.equal(m.config.nKvHead, 1);
  const V = m.config.vocabSize;
  const S = 24;
  const rows = [seededIds(S, V, 1)];
  rows[0]![7] = 3;
  const gather = [0, 7, 23];
  const torch = pythonJson<number[][][]>(TORCH_LOGITS, [dir], { ids: rows, gather });
  const out = await m.forward({
    batch: 1,
    ids: BigInt64Array.from(rows.flat().map(BigInt)),
    positions: BigInt64Array.from(Array.from({ length: S }, (_, i) => BigInt(i))),
    gather: BigInt64Array.from(gather.map(BigInt)),
    keep: BigInt64Array.of(0n, 1n),
  });
  assert.deepEqual(out.present!.keys[0]!.dims, [1, 1, 2, 16], 'present K/V: [B, n_kv_head, K, Dh]');
  let maxDiff = 0;
  for (let g = 0; g < gather.length; g++) {
    for (let v = 0; v < V; v++) if (v !== 3) maxDiff = Math.max(maxDiff, Math.abs(out.logits[g * V + v]! - torch[0]![g]![v]!));
  }
  assert.ok(maxDiff <= 1e-4, `max abs diff ${maxDiff}`);
});

test('cached span steps (with and without guidance) equal the full recompute on grouped K/V', async () => {
  const m = engine.model;
  const ctx = seededIds(30, m.config.vocabSize, 9);
  const canvas = Int32Array.from([1, ...ctx.slice(0, 20), ...new Array(8).fill(3), ...ctx.slice(20), 2]);
  const spanPositions = Array.from({ length: 8 }, (_, i) => 21 + i);
  const contextPositions = Array.from({ length: canvas.length }, (_, i) => i).filter((i) => !spanPositions.includes(i));
  const layout = { length: canvas.length, spanPositions, contextPositions };
  for (const guidance of [0, 1.5]) {
    const want = Float32Array.from(await createDenoiser(m, layout, { guidance, cache: false, cacheRefresh: 0 }).logits(canvas, spanPositions, 0));
    const cached = createDenoiser(m, layout, { guidance, cache: true, cacheRefresh: 0 });
    await cached.logits(canvas, spanPositions, 0); // fills the cache
    const step = await cached.logits(canvas, spanPositions, 1); // the span alone on the cached context
    let d = 0;
    for (let i = 0; i < want.length; i++) d = Math.max(d, Math.abs(want[i]! - step[i]!));
    assert.ok(d <= 1e-4, `guidance ${guidance}: cached step vs full recompute, max abs diff ${d}`);
  }
  // And the tasks run on it end to end.
  const r = await engine.infill({ prefix: 'def f(x):\n    return ', suffix: '\n', maxTokens: 6, sampler: { guidance: 1 } });
  assert.equal(typeof r.text, 'string');
  assert.ok(r.forwards >= 1);
});

test('the size the status shows, counted from the architecture, is the PyTorch model\'s parameter count', () => {
  const numel = pythonJson<number>(
    'import json, sys\nfrom diffill_trainer.modelio import load_model_dir\nm, _ = load_model_dir(sys.argv[1])\nprint(json.dumps(sum(p.numel() for p in m.parameters())))',
    [dir],
    null,
  );
  assert.equal(engine.model.config.training['params'], undefined, 'no trainer figure: the count comes from the architecture');
  assert.equal(parameterCount(engine.model.config), numel);
});
