// Infill latency with and without ONNX Runtime's memory patterns, interleaved request by request in
// one process (two sessions of the same model), so that the machine's load falls on both alike; the
// answers are compared too. Requests: a random gap in a random document of the realistic suite.
//
//   node --import tsx test/bench/mem-pattern-latency.ts MODEL_DIR [REQUESTS]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadModel } from '../../server/engine/index';
import { Prng } from '../../server/engine/prng';

async function main(): Promise<void> {
  const dir = process.argv[2];
  if (dir === undefined) throw new Error('usage: mem-pattern-latency.ts MODEL_DIR [REQUESTS]');
  const n = Number(process.argv[3] ?? 60);
  const create = ort.InferenceSession.create.bind(ort.InferenceSession) as (path: string, o: ort.InferenceSession.SessionOptions) => Promise<ort.InferenceSession>;
  let override: ort.InferenceSession.SessionOptions = {};
  (ort.InferenceSession as unknown as { create: typeof create }).create = (path, o) => create(path, { ...o, ...override });
  override = { enableMemPattern: true };
  const withPatterns = await loadModel(dir, { threads: 2, allowSpinning: false });
  override = {};
  const engine = await loadModel(dir, { threads: 2, allowSpinning: false });
  const docs = readFileSync(join(__dirname, 'realistic', 'docs.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => (JSON.parse(l) as { text: string }).text)
    .filter((t) => t.length > 3000);
  const rng = new Prng(11);
  const ms: Record<'patterns' | 'none', number[]> = { patterns: [], none: [] };
  let differ = 0;
  for (let i = 0; i < n; i++) {
    const doc = docs[Math.floor(rng.uniform() * docs.length)]!;
    const at = Math.floor(rng.uniform() * doc.length);
    const request = { prefix: doc.slice(0, at), suffix: doc.slice(at), maxTokens: 32, context: { maxContextTokens: 512 } };
    // Alternate which goes first, so that neither always runs on a warmer cache.
    const order = i % 2 === 0 ? (['patterns', 'none'] as const) : (['none', 'patterns'] as const);
    const texts: string[] = [];
    for (const which of order) {
      const r = await (which === 'patterns' ? withPatterns : engine).infill(request);
      ms[which].push(r.latencyMs);
      texts.push(r.text);
    }
    if (texts[0] !== texts[1]) differ++;
  }
  const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  console.log(`${n} requests: p50 with memory patterns ${p50(ms.patterns).toFixed(0)} ms, without ${p50(ms.none).toFixed(0)} ms (${(p50(ms.none) / p50(ms.patterns)).toFixed(2)}x); ${differ} answers differ`);
  await withPatterns.dispose();
  await engine.dispose();
}

void main();
