// Loading and validating model directories, and the ONNX graph against PyTorch, on the tiny model the
// project's trainer makes (test/helpers/tiny-model.ts).
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createDenoiser } from '../../server/engine/denoiser';
import { ModelError } from '../../server/engine/errors';
import { type Model, openModel } from '../../server/engine/model';
import { copyOfTinyModel, pythonJson, removeScratchCopies, sharpModelDir, tinyModelDir } from '../helpers/tiny-model';

let model: Model;
before(async () => {
  model = await openModel(sharpModelDir(), { threads: 1 });
});
after(async () => {
  await model.dispose();
  removeScratchCopies();
});

async function rejectsWith(dir: string, file: RegExp, problem: RegExp): Promise<void> {
  await assert.rejects(openModel(dir, { threads: 1 }), (e: unknown) => {
    assert.ok(e instanceof ModelError, `expected ModelError, got ${String(e)}`);
    assert.match(e.file, file);
    assert.match(e.problem, problem);
    return true;
  });
}

function editConfig(dir: string, edit: (c: Record<string, any>) => void): void {
  const path = join(dir, 'config.json');
  const c = JSON.parse(readFileSync(path, 'utf8'));
  edit(c);
  writeFileSync(path, JSON.stringify(c));
}

test('a good model loads: config read, graph checked, tokenizer attached', async () => {
  const m = await openModel(tinyModelDir(), { threads: 1 });
  try {
    assert.equal(m.config.special.mask, 3);
    assert.equal(m.config.io.pastKey.length, m.config.nLayer);
    assert.ok(m.tokenizer.encode('hello').length > 0);
  } finally {
    await m.dispose();
  }
});

test('missing directory or files give a ModelError naming the file', async () => {
  await rejectsWith('/nonexistent/model', /nonexistent/, /directory not found/);
  const dir = copyOfTinyModel('missing-onnx');
  rmSync(join(dir, 'model.onnx'));
  await rejectsWith(dir, /model\.onnx$/, /missing/);
  const dir2 = copyOfTinyModel('missing-tok');
  rmSync(join(dir2, 'tokenizer.json'));
  await rejectsWith(dir2, /tokenizer\.json$/, /missing/);
});

test('a corrupt graph, tokenizer or config gives a ModelError', async () => {
  const dir = copyOfTinyModel('corrupt-onnx');
  writeFileSync(join(dir, 'model.onnx'), Buffer.from('this is not a protobuf'));
  await rejectsWith(dir, /model\.onnx$/, /not a loadable ONNX model/);
  const dir2 = copyOfTinyModel('corrupt-tok');
  writeFileSync(join(dir2, 'tokenizer.json'), '{"model": 1');
  await rejectsWith(dir2, /tokenizer\.json$/, /cannot be read as a tokenizer/);
  const dir3 = copyOfTinyModel('corrupt-config');
  writeFileSync(join(dir3, 'config.json'), '{ nope');
  await rejectsWith(dir3, /config\.json$/, /not valid JSON/);
});

test('config and graph that disagree give a ModelError', async () => {
  const layers = copyOfTinyModel('layers');
  editConfig(layers, (c) => (c.architecture.n_layer += 1));
  await rejectsWith(layers, /model\.onnx$/, /no input 'past_key\.2'/);
  const fewer = copyOfTinyModel('fewer-layers');
  editConfig(fewer, (c) => (c.architecture.n_layer -= 1));
  await rejectsWith(fewer, /model\.onnx$/, /inputs config\.json does not describe/);
  const vocab = copyOfTinyModel('vocab');
  editConfig(vocab, (c) => (c.architecture.vocab_size = 9000));
  await rejectsWith(vocab, /model\.onnx$/, /9000|vocab/);
  const heads = copyOfTinyModel('heads');
  editConfig(heads, (c) => {
    c.architecture.n_head *= 2;
  });
  await rejectsWith(heads, /model\.onnx$/, /axis 1/);
  const names = copyOfTinyModel('names');
  editConfig(names, (c) => (c.onnx.outputs.logits = 'scores'));
  await rejectsWith(names, /model\.onnx$/, /no output 'scores'/);
  const special = copyOfTinyModel('special');
  editConfig(special, (c) => (c.special_tokens.mask = c.architecture.vocab_size));
  await rejectsWith(special, /config\.json$/, /not below vocab_size/);
});

// PyTorch logits of the trainer's own model class for the same ids (full forward, positions 0..S-1).
const TORCH_LOGITS = `
import json, sys, torch
from diffill_trainer.modelio import load_model_dir
req = json.load(sys.stdin)
model, cfg = load_model_dir(sys.argv[1])
with torch.no_grad():
    out = model(torch.tensor(req["ids"], dtype=torch.long))
print(json.dumps([[out[b, p].tolist() for p in req["gather"]] for b in range(out.shape[0])]))
`;

function seededIds(n: number, vocab: number, seed: number): number[] {
  let x = seed;
  return Array.from({ length: n }, () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x % vocab;
  });
}

test('onnxruntime-node logits match PyTorch within 1e-4 on random inputs', async () => {
  const V = model.config.vocabSize;
  const S = 40;
  const rows = [seededIds(S, V, 1), seededIds(S, V, 2)];
  rows[1]![5] = model.config.special.mask!;
  const gather = [0, 5, 17, 39];
  const torch = pythonJson<number[][][]>(TORCH_LOGITS, [sharpModelDir()], { ids: rows, gather });
  const out = await model.forward({
    batch: 2,
    ids: BigInt64Array.from(rows.flat().map(BigInt)),
    positions: BigInt64Array.from(Array.from({ length: S }, (_, i) => BigInt(i))),
    gather: BigInt64Array.from(gather.map(BigInt)),
    keep: new BigInt64Array(0),
  });
  let maxDiff = 0;
  for (let b = 0; b < 2; b++) {
    for (let g = 0; g < gather.length; g++) {
      for (let v = 0; v < V; v++) {
        if (v === model.config.special.mask) continue;
        maxDiff = Math.max(maxDiff, Math.abs(out.logits[(b * gather.length + g) * V + v]! - torch[b]![g]![v]!));
      }
    }
  }
  assert.ok(maxDiff <= 1e-4, `max abs diff ${maxDiff}`);
});

test('cached span steps equal full recompute while no token has been committed', async () => {
  const V = model.config.vocabSize;
  const { mask } = model.config.special;
  const ctx = seededIds(30, V, 9).map((t) => (t === mask ? 4 : t));
  const canvas = Int32Array.from([...ctx.slice(0, 20), ...new Array(8).fill(mask), ...ctx.slice(20)]);
  const spanPositions = Array.from({ length: 8 }, (_, i) => 20 + i);
  const contextPositions = Array.from({ length: canvas.length }, (_, i) => i).filter((i) => i < 20 || i >= 28);
  const layout = { length: canvas.length, spanPositions, contextPositions };
  for (const guidance of [0, 1.5]) {
    const full = createDenoiser(model, layout, { guidance, cache: false, cacheRefresh: 0 });
    const cached = createDenoiser(model, layout, { guidance, cache: true, cacheRefresh: 0 });
    const want = Float32Array.from(await full.logits(canvas, spanPositions, 0));
    const first = Float32Array.from(await cached.logits(canvas, spanPositions, 0)); // fills the cache
    const step = Float32Array.from(await cached.logits(canvas, spanPositions.slice(2), 1)); // span only
    // With guidance the first request of this canvas length also fills the unconditional memo.
    assert.equal(cached.fullForwards, guidance > 0 ? 2 : 1);
    assert.equal(cached.forwards, 2);
    if (guidance > 0) {
      const again = createDenoiser(model, layout, { guidance, cache: true, cacheRefresh: 0 });
      const hit = await again.logits(canvas, spanPositions, 0);
      assert.equal(again.fullForwards, 1, 'the unconditional context comes from the memo');
      let d = 0;
      for (let i = 0; i < want.length; i++) d = Math.max(d, Math.abs(want[i]! - hit[i]!));
      assert.ok(d <= 1e-4, `memo hit differs by ${d}`);
    }
    let d0 = 0;
    let d1 = 0;
    for (let i = 0; i < want.length; i++) d0 = Math.max(d0, Math.abs(want[i]! - first[i]!));
    for (let i = 0; i < step.length; i++) d1 = Math.max(d1, Math.abs(want[2 * V + i]! - step[i]!));
    assert.ok(d0 <= 1e-4 && d1 <= 1e-4, `guidance ${guidance}: cache fill ${d0}, span step ${d1}`);
  }
});
