// config.json of a model directory (docs/model-format.md), parsed into a typed, checked value.
// Every id, name and size the engine uses comes from here; nothing is hard-coded.
import { posix, win32 } from 'node:path';
import { jsonSyntaxProblem, ModelError } from './errors';

export interface SpecialIds {
  pad: number;
  bos: number;
  eos: number;
  mask: number;
}

export interface ModelConfig {
  name: string;
  nLayer: number;
  dModel: number;
  nHead: number;
  headDim: number;
  vocabSize: number;
  maxPosition: number;
  special: SpecialIds;
  tokenizerFile: string;
  onnxFile: string;
  quantized: boolean;
  /** ONNX I/O names, `{layer}` already substituted per layer. */
  io: {
    inputIds: string;
    positionIds: string;
    gatherIndex: string;
    keepIndex: string;
    pastKey: string[];
    pastValue: string[];
    logits: string;
    presentKey: string[];
    presentValue: string[];
  };
  /** The raw `training` summary, passed through for reports. */
  training: Record<string, unknown>;
}

const FILE = 'config.json';

/**
 * The largest `architecture.max_position` accepted: the longest window any of the trainer's presets
 * supports (server/training/python/diffill_trainer/presets.py). RoPE has no position table, so the
 * graph would run on any length, but a model has only seen what it was trained on.
 */
export const MAX_POSITION_LIMIT = 4096;

/**
 * A file named by config.json: a relative path that stays inside the model directory (no absolute
 * path, no `..`, no backslash). openModel() also checks where it really lies (symbolic links).
 */
function fileName(o: Record<string, unknown>, key: string, where: string): string {
  const v = str(o, key, where);
  const parts = v.split('/');
  if (posix.isAbsolute(v) || win32.isAbsolute(v) || v.includes('\\') || v.includes('\0') || parts.some((p) => p === '..' || p === '')) {
    fail(`'${where}.${key}' must name a file inside the model directory (got ${JSON.stringify(v)})`);
  }
  return v;
}

function fail(problem: string): never {
  throw new ModelError(FILE, problem);
}

function object(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(`'${where}' must be an object`);
  return v as Record<string, unknown>;
}

function int(o: Record<string, unknown>, key: string, where: string, min = 0): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    fail(`'${where}.${key}' must be an integer >= ${min} (got ${JSON.stringify(v)})`);
  }
  return v;
}

function str(o: Record<string, unknown>, key: string, where: string): string {
  const v = o[key];
  if (typeof v !== 'string' || v.length === 0) fail(`'${where}.${key}' must be a non-empty string`);
  return v;
}

function perLayer(template: string, nLayer: number, where: string): string[] {
  if (!template.includes('{layer}')) fail(`'${where}' must contain '{layer}' (got '${template}')`);
  return Array.from({ length: nLayer }, (_, i) => template.replaceAll('{layer}', String(i)));
}

/** Parses and checks the text of config.json (shape, ranges, special ids < vocab). */
export function parseConfig(text: string): ModelConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    fail(jsonSyntaxProblem(err));
  }
  const root = object(raw, '(root)');
  if (root['format'] !== 'diffill-mdm') fail(`'format' must be "diffill-mdm" (got ${JSON.stringify(root['format'])})`);
  if (root['format_version'] !== 1) fail(`unsupported 'format_version' ${JSON.stringify(root['format_version'])} (this engine reads 1)`);
  const arch = object(root['architecture'], 'architecture');
  const nLayer = int(arch, 'n_layer', 'architecture', 1);
  const dModel = int(arch, 'd_model', 'architecture', 1);
  const nHead = int(arch, 'n_head', 'architecture', 1);
  if (dModel % nHead !== 0) fail(`'architecture.d_model' (${dModel}) is not a multiple of n_head (${nHead})`);
  const vocabSize = int(arch, 'vocab_size', 'architecture', 5);
  const maxPosition = int(arch, 'max_position', 'architecture', 8);
  if (maxPosition > MAX_POSITION_LIMIT) {
    fail(`'architecture.max_position' (${maxPosition}) is more than ${MAX_POSITION_LIMIT}, the longest window a Diffill model supports`);
  }
  const sp = object(root['special_tokens'], 'special_tokens');
  const special: SpecialIds = {
    pad: int(sp, 'pad', 'special_tokens'),
    bos: int(sp, 'bos', 'special_tokens'),
    eos: int(sp, 'eos', 'special_tokens'),
    mask: int(sp, 'mask', 'special_tokens'),
  };
  for (const [k, id] of Object.entries(special)) {
    if (id >= vocabSize) fail(`special token '${k}' has id ${id}, not below vocab_size ${vocabSize}`);
  }
  if (new Set(Object.values(special)).size !== 4) fail('the special token ids pad, bos, eos and mask must be distinct');
  const onnx = object(root['onnx'], 'onnx');
  const inputs = object(onnx['inputs'], 'onnx.inputs');
  const outputs = object(onnx['outputs'], 'onnx.outputs');
  const training = root['training'];
  // A model trained from scratch saw windows of training.seq_len tokens; max_position may not claim
  // more. (A fine-tuned model keeps its base model's max_position, which may exceed its own seq_len.)
  if (typeof training === 'object' && training !== null) {
    const t = training as Record<string, unknown>;
    const seqLen = t['seq_len'];
    if ((t['init'] === null || t['init'] === undefined) && typeof seqLen === 'number' && Number.isInteger(seqLen) && seqLen > 0 && maxPosition > seqLen) {
      fail(`'architecture.max_position' (${maxPosition}) is more than the model was trained for (training.seq_len ${seqLen})`);
    }
  }
  if (root['weights'] !== undefined) {
    const weights = object(root['weights'], 'weights');
    if (weights['file'] !== undefined) fileName(weights, 'file', 'weights');
  }
  return {
    name: typeof root['name'] === 'string' ? root['name'] : 'unnamed',
    nLayer,
    dModel,
    nHead,
    headDim: dModel / nHead,
    vocabSize,
    maxPosition,
    special,
    tokenizerFile: fileName(root, 'tokenizer', '(root)'),
    onnxFile: fileName(onnx, 'file', 'onnx'),
    quantized: onnx['quantized'] === true,
    io: {
      inputIds: str(inputs, 'input_ids', 'onnx.inputs'),
      positionIds: str(inputs, 'position_ids', 'onnx.inputs'),
      gatherIndex: str(inputs, 'gather_index', 'onnx.inputs'),
      keepIndex: str(inputs, 'keep_index', 'onnx.inputs'),
      pastKey: perLayer(str(inputs, 'past_key', 'onnx.inputs'), nLayer, 'onnx.inputs.past_key'),
      pastValue: perLayer(str(inputs, 'past_value', 'onnx.inputs'), nLayer, 'onnx.inputs.past_value'),
      logits: str(outputs, 'logits', 'onnx.outputs'),
      presentKey: perLayer(str(outputs, 'present_key', 'onnx.outputs'), nLayer, 'onnx.outputs.present_key'),
      presentValue: perLayer(str(outputs, 'present_value', 'onnx.outputs'), nLayer, 'onnx.outputs.present_value'),
    },
    training: typeof training === 'object' && training !== null ? (training as Record<string, unknown>) : {},
  };
}
