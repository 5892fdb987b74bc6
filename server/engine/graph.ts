// Checks that an ONNX graph has the inputs and outputs config.json promises (docs/model-format.md):
// names, element types, ranks, and the fixed sizes (heads, head size, vocabulary) where the graph states them.
import type { InferenceSession } from 'onnxruntime-node';
import type { ModelConfig } from './config';
import { ModelError } from './errors';

type Meta = InferenceSession.ValueMetadata;

interface Expect {
  name: string;
  type: 'int64' | 'float32';
  /** Expected size per axis: a number is checked when the graph fixes that axis, null is free. */
  dims: ReadonlyArray<number | null>;
}

function check(file: string, kind: 'input' | 'output', metas: readonly Meta[], expected: readonly Expect[]): void {
  const byName = new Map(metas.map((m) => [m.name, m]));
  for (const e of expected) {
    const m = byName.get(e.name);
    if (m === undefined) {
      throw new ModelError(file, `the graph has no ${kind} '${e.name}' (config.json names it; the graph's ${kind}s are ${[...byName.keys()].join(', ')})`);
    }
    if (!m.isTensor) throw new ModelError(file, `${kind} '${e.name}' is not a tensor`);
    if (m.type !== e.type) throw new ModelError(file, `${kind} '${e.name}' has type ${m.type}, expected ${e.type}`);
    if (m.shape.length !== e.dims.length) {
      throw new ModelError(file, `${kind} '${e.name}' has rank ${m.shape.length}, expected ${e.dims.length}`);
    }
    e.dims.forEach((want, axis) => {
      const got = m.shape[axis];
      if (want !== null && typeof got === 'number' && got !== want) {
        throw new ModelError(file, `${kind} '${e.name}' has size ${got} on axis ${axis}, config.json implies ${want}`);
      }
    });
  }
  const known = new Set(expected.map((e) => e.name));
  const extra = metas.filter((m) => !known.has(m.name)).map((m) => m.name);
  // An extra input would have to be fed and we would not know with what; extra outputs are only waste.
  if (kind === 'input' && extra.length > 0) {
    const pastLike = extra.filter((n) => /past/i.test(n)).length;
    const hint = pastLike > 0 ? ` (${pastLike} more past inputs than config n_layer=${expected.filter((e) => e.dims.length === 4).length / 2} implies)` : '';
    throw new ModelError(file, `the graph has inputs config.json does not describe: ${extra.join(', ')}${hint}`);
  }
}

/** Throws ModelError (naming the ONNX file) when the graph does not match config.json. */
export function validateGraph(config: ModelConfig, inputs: readonly Meta[], outputs: readonly Meta[]): void {
  const file = config.onnxFile;
  const { io, nKvHead, headDim, vocabSize } = config;
  // K/V carry n_kv_head heads (grouped-query attention; n_kv_head = n_head unless config says less).
  const kv = [null, nKvHead, null, headDim] as const;
  check(file, 'input', inputs, [
    { name: io.inputIds, type: 'int64', dims: [null, null] },
    { name: io.positionIds, type: 'int64', dims: [null] },
    { name: io.gatherIndex, type: 'int64', dims: [null] },
    { name: io.keepIndex, type: 'int64', dims: [null] },
    ...io.pastKey.map((name) => ({ name, type: 'float32' as const, dims: kv })),
    ...io.pastValue.map((name) => ({ name, type: 'float32' as const, dims: kv })),
  ]);
  check(file, 'output', outputs, [
    { name: io.logits, type: 'float32', dims: [null, null, vocabSize] },
    ...io.presentKey.map((name) => ({ name, type: 'float32' as const, dims: kv })),
    ...io.presentValue.map((name) => ({ name, type: 'float32' as const, dims: kv })),
  ]);
}
