// The resident memory of one ONNX session fed forwards of many input shapes, as a server's requests
// feed it (full passes of 100-560 positions keeping the context's K/V, span steps of 1-40 positions
// against 50-520 cached ones), with the engine's session options and, for comparison, with ONNX
// Runtime's memory patterns switched back on. It prints VmRSS every 250 forwards.
//
//   node --import tsx test/bench/shape-memory.ts MODEL_DIR [FORWARDS] [--mem-pattern]
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { openModel } from '../../server/engine/model';
import { Prng } from '../../server/engine/prng';

const args = process.argv.slice(2);
const found = args.find((a) => !a.startsWith('--') && !/^\d+$/.test(a));
if (found === undefined) throw new Error('usage: shape-memory.ts MODEL_DIR [FORWARDS] [--mem-pattern]');
const dir: string = found;
const forwards = Number(args.find((a) => /^\d+$/.test(a)) ?? 1500);
if (args.includes('--mem-pattern')) {
  // The engine sets enableMemPattern: false; this puts ONNX Runtime's default back for the comparison.
  const create = ort.InferenceSession.create.bind(ort.InferenceSession) as (path: string, o: ort.InferenceSession.SessionOptions) => Promise<ort.InferenceSession>;
  (ort.InferenceSession as unknown as { create: typeof create }).create = (path, o) => create(path, { ...o, enableMemPattern: true });
}
const rssMb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;
const rng = new Prng(7);
const rand = (n: number) => Math.floor(rng.uniform() * n);
async function main(): Promise<void> {
  const model = await openModel(dir, { threads: 2 });
  const { nLayer, nHead, headDim } = model.config;
  const ids = (n: number) => BigInt64Array.from({ length: n }, () => BigInt(4 + rand(model.config.vocabSize - 4)));
  const range = (from: number, n: number) => BigInt64Array.from({ length: n }, (_, i) => BigInt(from + i));
  const started = performance.now();
  for (let i = 0; i < forwards; i++) {
    if (i % 8 === 0) {
      const L = 100 + rand(460);
      const C = L - 1 - rand(40);
      await model.forward({ batch: 1, ids: ids(L), positions: range(0, L), gather: range(C, L - C), keep: range(0, C) });
    } else {
      const C = 50 + rand(470);
      const S = 1 + rand(40);
      const kv = Array.from({ length: nLayer }, () => new Float32Array(nHead * C * headDim));
      await model.forward({ batch: 1, ids: ids(S), positions: range(C, S), gather: range(0, S), keep: new BigInt64Array(0), past: model.makeCache(1, C, kv, kv) });
    }
    if (i % 250 === 249) console.log(`${i + 1} forwards: VmRSS ${rssMb().toFixed(1)} MB (${((performance.now() - started) / 1000).toFixed(0)} s)`);
  }
  await model.dispose();
}

void main();
