// config.json of a model directory (docs/model-format.md), parsed into a typed, checked value.
// Every id, name and size the engine uses comes from here; nothing is hard-coded.
import { posix, win32 } from 'node:path';
import { jsonSyntaxProblem, ModelError } from './errors';

/** "diffill-mdm": masked diffusion; "diffill-arm": a causal fill-in-the-middle model (autoregressive path). */
export type ModelFormat = 'diffill-mdm' | 'diffill-arm';

/**
 * How a masked-diffusion answer ends (docs/model-format.md):
 * "pad": variable length by trailing [PAD]; "eos": the same rule with EOS in [PAD]'s place (the answer
 * ends at its first EOS); "fixed": no padding token, the canvas length is the answer length.
 */
export type LengthRule = 'pad' | 'eos' | 'fixed';

/** Where the weights came from (informational). */
export type ModelSource = 'diffill' | 'smdm' | 'qwen2';

export interface SpecialIds {
  /** null: the model has no [PAD]. */
  pad: number | null;
  /** null: nothing is prepended to a complete prefix. */
  bos: number | null;
  eos: number;
  /** Required for diffill-mdm, null for diffill-arm. */
  mask: number | null;
}

/** The fill-in-the-middle ids of a diffill-arm model (eom: end of the middle). */
export interface FimIds {
  prefix: number;
  suffix: number;
  middle: number;
  eom: number;
}

export interface ModelConfig {
  format: ModelFormat;
  name: string;
  nLayer: number;
  dModel: number;
  /** Query heads; headDim = dModel / nHead. */
  nHead: number;
  /** K/V heads (grouped-query attention); the K/V cache is [B, nKvHead, C, headDim]. */
  nKvHead: number;
  headDim: number;
  /** MLP width (architecture.d_ff); null when config.json does not give it (only the size estimate uses it). */
  dFf: number | null;
  vocabSize: number;
  /** Ids >= emitVocabSize are never emitted (the graph gives them -1e9, like [MASK]). */
  emitVocabSize: number;
  maxPosition: number;
  qkvBias: boolean;
  /** Positions are divided by it inside the graph; the engine always passes plain integer positions. */
  ropeCondenseRatio: number;
  tiedEmbeddings: boolean;
  /** Causal attention inside the new tokens: true exactly for diffill-arm. */
  causal: boolean;
  source: ModelSource;
  /**
   * 0: the logits of canvas position p are the graph's output at p. 1: they are its output at p - 1
   * (position 0 reads its own), as in MDMs adapted from an autoregressive model (Open-dCoder, Dream).
   */
  logitShift: 0 | 1;
  special: SpecialIds;
  /** diffill-arm only (null for diffill-mdm). */
  fim: FimIds | null;
  /** diffill-mdm only (null for diffill-arm, whose answer ends at fim.eom). */
  lengthRule: LengthRule | null;
  /**
   * The token that ends a variable-length answer and fills the positions after it: pad under "pad",
   * eos under "eos", null under "fixed" (and for diffill-arm).
   */
  endId: number | null;
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

/** An optional integer key: absent gives `absent`; null is allowed only when `nullable`. */
function optInt(o: Record<string, unknown>, key: string, where: string, absent: number | null, nullable: boolean, min = 0): number | null {
  const v = o[key];
  if (v === undefined) return absent;
  if (v === null && nullable) return null;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    fail(`'${where}.${key}' must be an integer >= ${min}${nullable ? ' or null' : ''} (got ${JSON.stringify(v)})`);
  }
  return v;
}

function optBool(o: Record<string, unknown>, key: string, where: string, absent: boolean): boolean {
  const v = o[key];
  if (v === undefined) return absent;
  if (typeof v !== 'boolean') fail(`'${where}.${key}' must be true or false (got ${JSON.stringify(v)})`);
  return v;
}

function oneOf<T extends string>(o: Record<string, unknown>, key: string, where: string, allowed: readonly T[], absent: T): T {
  const v = o[key];
  if (v === undefined) return absent;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    fail(`'${where === '(root)' ? key : `${where}.${key}`}' must be ${allowed.map((a) => JSON.stringify(a)).join(' or ')} (got ${JSON.stringify(v)})`);
  }
  return v as T;
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

/** Parses and checks the text of config.json (shape, ranges, special ids < vocab, the format's own keys). */
export function parseConfig(text: string): ModelConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    fail(jsonSyntaxProblem(err));
  }
  const root = object(raw, '(root)');
  const format = root['format'];
  if (format !== 'diffill-mdm' && format !== 'diffill-arm') {
    fail(`'format' must be "diffill-mdm" or "diffill-arm" (got ${JSON.stringify(format)})`);
  }
  if (root['format_version'] !== 1) fail(`unsupported 'format_version' ${JSON.stringify(root['format_version'])} (this engine reads 1)`);
  const arm = format === 'diffill-arm';
  const arch = object(root['architecture'], 'architecture');
  const nLayer = int(arch, 'n_layer', 'architecture', 1);
  const dModel = int(arch, 'd_model', 'architecture', 1);
  const nHead = int(arch, 'n_head', 'architecture', 1);
  if (dModel % nHead !== 0) fail(`'architecture.d_model' (${dModel}) is not a multiple of n_head (${nHead})`);
  const nKvHead = optInt(arch, 'n_kv_head', 'architecture', nHead, false, 1)!;
  if (nHead % nKvHead !== 0) fail(`'architecture.n_kv_head' (${nKvHead}) does not divide n_head (${nHead}): query heads are grouped over the K/V heads`);
  const vocabSize = int(arch, 'vocab_size', 'architecture', 5);
  const emitVocabSize = optInt(arch, 'emit_vocab_size', 'architecture', vocabSize, false, 1)!;
  if (emitVocabSize > vocabSize) fail(`'architecture.emit_vocab_size' (${emitVocabSize}) is more than vocab_size (${vocabSize})`);
  const maxPosition = int(arch, 'max_position', 'architecture', 8);
  if (maxPosition > MAX_POSITION_LIMIT) {
    fail(`'architecture.max_position' (${maxPosition}) is more than ${MAX_POSITION_LIMIT}, the longest window a Diffill model supports`);
  }
  const qkvBias = optBool(arch, 'qkv_bias', 'architecture', false);
  const ratio = arch['rope_condense_ratio'] ?? 1;
  if (typeof ratio !== 'number' || !Number.isFinite(ratio) || ratio <= 0) {
    fail(`'architecture.rope_condense_ratio' must be a number > 0 (got ${JSON.stringify(arch['rope_condense_ratio'])})`);
  }
  const tiedEmbeddings = optBool(arch, 'tied_embeddings', 'architecture', true);
  const causal = optBool(arch, 'causal', 'architecture', false);
  if (causal !== arm) {
    fail(arm ? `'architecture.causal' must be true for format "diffill-arm"` : `'architecture.causal' must be false for format "diffill-mdm" (a causal model is "diffill-arm")`);
  }
  const source = oneOf<ModelSource>(arch, 'source', 'architecture', ['diffill', 'smdm', 'qwen2'], 'diffill');
  const shift = arch['logit_shift'] ?? 0;
  if (shift !== 0 && shift !== 1) fail(`'architecture.logit_shift' must be 0 or 1 (got ${JSON.stringify(arch['logit_shift'])})`);
  const logitShift: 0 | 1 = shift;
  // The autoregressive path reads the last position's output as the next token's: a shift there means nothing.
  if (arm && logitShift !== 0) fail(`'architecture.logit_shift' must be 0 for format "diffill-arm"`);

  const sp = object(root['special_tokens'], 'special_tokens');
  const special: SpecialIds = {
    pad: optInt(sp, 'pad', 'special_tokens', null, true),
    bos: optInt(sp, 'bos', 'special_tokens', null, true),
    eos: int(sp, 'eos', 'special_tokens'),
    mask: optInt(sp, 'mask', 'special_tokens', null, true),
  };
  let fim: FimIds | null = null;
  if (arm) {
    if (special.mask !== null) fail(`'special_tokens.mask' must be null for format "diffill-arm" (got ${special.mask})`);
    const need = (key: string): number => {
      if (sp[key] === undefined || sp[key] === null) fail(`'special_tokens.${key}' is required for format "diffill-arm"`);
      return int(sp, key, 'special_tokens');
    };
    fim = { prefix: need('fim_prefix'), suffix: need('fim_suffix'), middle: need('fim_middle'), eom: need('eom') };
  } else {
    if (special.mask === null) fail(`'special_tokens.mask' is required for format "diffill-mdm"`);
    for (const key of ['fim_prefix', 'fim_suffix', 'fim_middle', 'eom']) {
      if (sp[key] !== undefined && sp[key] !== null) fail(`'special_tokens.${key}' is for format "diffill-arm" only`);
    }
  }
  const ids: Array<[string, number]> = [
    ['pad', special.pad],
    ['bos', special.bos],
    ['eos', special.eos],
    ['mask', special.mask],
    ...(fim === null ? [] : ([['fim_prefix', fim.prefix], ['fim_suffix', fim.suffix], ['fim_middle', fim.middle], ['eom', fim.eom]] as const)),
  ].filter((e): e is [string, number] => e[1] !== null);
  for (const [k, id] of ids) {
    if (id >= vocabSize) fail(`special token '${k}' has id ${id}, not below vocab_size ${vocabSize}`);
  }
  for (let i = 0; i < ids.length; i++) {
    for (let j = i + 1; j < ids.length; j++) {
      if (ids[i]![1] === ids[j]![1]) fail(`special tokens '${ids[i]![0]}' and '${ids[j]![0]}' have the same id ${ids[i]![1]}; special ids must be distinct`);
    }
  }
  // The tokens that end an answer must be ones the head can emit.
  for (const [k, id] of ids) {
    if ((k === 'pad' || k === 'eos' || k === 'eom') && id >= emitVocabSize) {
      fail(`special token '${k}' has id ${id}, which the model never emits (emit_vocab_size ${emitVocabSize})`);
    }
  }
  let lengthRule: LengthRule | null = null;
  let endId: number | null = null;
  if (arm) {
    if (root['length_rule'] !== undefined) fail(`'length_rule' is for format "diffill-mdm" only (a "diffill-arm" answer ends at special_tokens.eom)`);
  } else {
    lengthRule = oneOf<LengthRule>(root, 'length_rule', '(root)', ['pad', 'eos', 'fixed'], 'pad');
    if (lengthRule === 'pad' && special.pad === null) {
      fail(`'length_rule' "pad" needs 'special_tokens.pad' (this model has no [PAD]: use "eos" or "fixed")`);
    }
    endId = lengthRule === 'pad' ? special.pad : lengthRule === 'eos' ? special.eos : null;
  }
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
    format,
    name: typeof root['name'] === 'string' ? root['name'] : 'unnamed',
    nLayer,
    dModel,
    nHead,
    nKvHead,
    headDim: dModel / nHead,
    dFf: optInt(arch, 'd_ff', 'architecture', null, false, 1),
    vocabSize,
    emitVocabSize,
    maxPosition,
    qkvBias,
    ropeCondenseRatio: ratio,
    tiedEmbeddings,
    causal,
    source,
    logitShift,
    special,
    fim,
    lengthRule,
    endId,
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

/**
 * The [MASK] id of a masked-diffusion model. parseConfig guarantees it for "diffill-mdm"; only the
 * masked-diffusion path asks, so a null here is a caller's mistake, not a user's.
 */
export function maskId(config: ModelConfig): number {
  if (config.special.mask === null) throw new Error(`model format ${config.format} has no [MASK]`);
  return config.special.mask;
}

/**
 * The model's parameter count, for what a model costs (the editor's status): the trainer's own count
 * (training.params) when config.json has it, else counted from the architecture (embedding, untied
 * head, attention with its K/V heads and q/k/v biases, the SwiGLU MLP, norms); null when
 * architecture.d_ff is missing too.
 */
export function parameterCount(config: ModelConfig): number | null {
  const given = config.training['params'];
  if (typeof given === 'number' && Number.isFinite(given) && given > 0) return given;
  if (config.dFf === null) return null;
  const d = config.dModel;
  const kv = config.nKvHead * config.headDim;
  const attention = 2 * d * d + 2 * d * kv + (config.qkvBias ? d + 2 * kv : 0);
  const mlp = 3 * d * config.dFf;
  const embed = config.vocabSize * d * (config.tiedEmbeddings ? 1 : 2);
  return embed + config.nLayer * (attention + mlp + 2 * d) + d;
}
