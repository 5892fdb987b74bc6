// A loaded model directory: checked config, tokenizer, and one ONNX Runtime session that serves
// full recompute, context encoding and cached span steps (docs/model-format.md).
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { isAbsolute, join, relative } from 'node:path';
// Before onnxruntime-node: turns the runtime's telemetry off before it initializes.
import './ort-env';
import * as ort from 'onnxruntime-node';
import { type ModelConfig, parseConfig } from './config';
import { ModelError } from './errors';
import { validateGraph } from './graph';
import type { TextCodec } from './codec';
import { Tokenizer } from './tokenizer';

export interface LoadOptions {
  /** Intra-op threads; default: every CPU the process may use. */
  threads?: number;
  /**
   * Let idle pool threads spin. Spinning wins a little with one session but costs a lot when
   * several sessions share 2 cores (each pool spins against the others); the default is to spin
   * only while this is the process's sole live session.
   */
  allowSpinning?: boolean;
}

/** K/V of cached context tokens, one tensor per layer: [B, n_kv_head, C, Dh]. */
export interface KvCache {
  readonly batch: number;
  readonly length: number;
  readonly keys: readonly ort.Tensor[];
  readonly values: readonly ort.Tensor[];
}

export interface ForwardInput {
  batch: number;
  /** [batch * S] token ids, row-major. */
  ids: BigInt64Array;
  /** [S] absolute positions, shared by the batch. */
  positions: BigInt64Array;
  /** Which of the S positions return logits. */
  gather: BigInt64Array;
  /** Which of the S positions return their K/V (empty: none). */
  keep: BigInt64Array;
  /** Cached context K/V (absent: no context cache, C = 0). */
  past?: KvCache;
}

export interface ForwardOutput {
  /** [batch * gather.length * vocab] logits. */
  logits: Float32Array;
  /** K/V of the kept positions; null when keep is empty. */
  present: KvCache | null;
}

let liveSessions = 0;

export class Model {
  private readonly emptyPast = new Map<number, KvCache>();
  private disposed = false;

  constructor(
    readonly dir: string,
    readonly config: ModelConfig,
    readonly tokenizer: TextCodec,
    private readonly session: ort.InferenceSession,
    readonly threads: number,
  ) {}

  /** One ONNX forward. */
  async forward(input: ForwardInput): Promise<ForwardOutput> {
    if (this.disposed) throw new Error('the model was disposed');
    const { io } = this.config;
    const S = input.positions.length;
    const past = input.past ?? this.empty(input.batch);
    if (past.batch !== input.batch) throw new Error(`cache batch ${past.batch} != input batch ${input.batch}`);
    const feeds: Record<string, ort.Tensor> = {
      [io.inputIds]: new ort.Tensor('int64', input.ids, [input.batch, S]),
      [io.positionIds]: new ort.Tensor('int64', input.positions, [S]),
      [io.gatherIndex]: new ort.Tensor('int64', input.gather, [input.gather.length]),
      [io.keepIndex]: new ort.Tensor('int64', input.keep, [input.keep.length]),
    };
    for (let i = 0; i < this.config.nLayer; i++) {
      feeds[io.pastKey[i]!] = past.keys[i]!;
      feeds[io.pastValue[i]!] = past.values[i]!;
    }
    // Fetch the K/V outputs only when asked for: empty outputs still cost an allocation each.
    const wantKv = input.keep.length > 0;
    const fetches = wantKv ? [io.logits, ...io.presentKey, ...io.presentValue] : [io.logits];
    const out = await this.session.run(feeds, fetches);
    const logits = out[io.logits]!.data as Float32Array;
    const present: KvCache | null = wantKv
      ? {
          batch: input.batch,
          length: input.keep.length,
          keys: io.presentKey.map((n) => out[n]!),
          values: io.presentValue.map((n) => out[n]!),
        }
      : null;
    return { logits, present };
  }

  /** Wraps per-layer K/V data ([batch, n_kv_head, length, Dh] each) as a cache the graph can take as past. */
  makeCache(batch: number, length: number, keys: readonly Float32Array[], values: readonly Float32Array[]): KvCache {
    const { nKvHead, headDim } = this.config;
    const dims = [batch, nKvHead, length, headDim];
    return {
      batch,
      length,
      keys: keys.map((k) => new ort.Tensor('float32', k, dims)),
      values: values.map((v) => new ort.Tensor('float32', v, dims)),
    };
  }

  /** The zero-length cache of a batch size; built once and reused by every full-recompute forward. */
  private empty(batch: number): KvCache {
    let c = this.emptyPast.get(batch);
    if (c === undefined) {
      const { nLayer, nKvHead, headDim } = this.config;
      const t = () => new ort.Tensor('float32', new Float32Array(0), [batch, nKvHead, 0, headDim]);
      c = { batch, length: 0, keys: Array.from({ length: nLayer }, t), values: Array.from({ length: nLayer }, t) };
      this.emptyPast.set(batch, c);
    }
    return c;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    liveSessions--;
    await this.session.release();
  }
}

/**
 * A file of the model directory, which must really lie inside it: config.json names only relative
 * paths without `..` (config.ts), and a symbolic link that leads out of the directory is refused
 * too, so loading a model never reads anything but the model's own files.
 */
function need(dir: string, file: string): string {
  const path = join(dir, file);
  if (!existsSync(path)) throw new ModelError(path, 'missing');
  const real = realpathSync(path);
  const rel = relative(realpathSync(dir), real);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) throw new ModelError(path, 'lies outside the model directory');
  if (!statSync(real).isFile()) throw new ModelError(path, 'not a regular file');
  return path;
}

/**
 * Loads and validates a model directory. Any missing, corrupt or mismatched part gives a ModelError
 * naming the file: config.json against the graph (names, types, ranks, heads, vocab), the tokenizer,
 * and one tiny probe forward that confirms the logits width equals vocab_size.
 */
export async function openModel(dir: string, options: LoadOptions = {}): Promise<Model> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ModelError(dir, 'model directory not found');
  const configPath = need(dir, 'config.json');
  let config: ModelConfig;
  try {
    config = parseConfig(readFileSync(configPath, 'utf8'));
  } catch (err) {
    if (err instanceof ModelError) throw new ModelError(configPath, err.problem);
    throw err;
  }
  const tokenizerPath = need(dir, config.tokenizerFile);
  let tokenizer: Tokenizer;
  try {
    tokenizer = Tokenizer.fromFile(tokenizerPath);
  } catch (err) {
    throw new ModelError(tokenizerPath, `cannot be read as a tokenizer (${(err as Error).message})`);
  }
  if (tokenizer.vocabSize > config.vocabSize) {
    throw new ModelError(tokenizerPath, `has ${tokenizer.vocabSize} ids, more than config.json vocab_size ${config.vocabSize}`);
  }
  const onnxPath = need(dir, config.onnxFile);
  const threads = Math.max(1, Math.floor(options.threads ?? availableParallelism()));
  const spinning = options.allowSpinning ?? liveSessions === 0;
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(onnxPath, {
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      // No memory patterns: with them ONNX Runtime plans one block per distinct set of input shapes,
      // keeps every plan for the session's life (its pattern cache has no bound) and carves each
      // plan's block from the CPU arena. Nearly every request brings new shapes (canvas, span and
      // context lengths), so the server's memory grew with every request: +36 MB over 1,500
      // forwards of varied shapes, flat without (docs/benchmarks.md, memory). Without patterns each
      // tensor comes from the arena on its own, which reuses the space across shapes; measured no
      // slower, with the same answers.
      enableMemPattern: false,
      extra: { session: { intra_op: { allow_spinning: spinning ? '1' : '0' } } },
    });
  } catch (err) {
    throw new ModelError(onnxPath, `not a loadable ONNX model (${(err as Error).message.split('\n')[0]})`);
  }
  liveSessions++;
  const model = new Model(dir, { ...config, onnxFile: onnxPath }, tokenizer, session, threads);
  try {
    validateGraph(model.config, session.inputMetadata, session.outputMetadata);
    await probe(model);
  } catch (err) {
    await model.dispose();
    throw err;
  }
  return model;
}

/** One-token forward: proves the graph runs and returns vocab_size logits per position. */
async function probe(model: Model): Promise<void> {
  const { vocabSize, special, onnxFile } = model.config;
  let out: ForwardOutput;
  try {
    out = await model.forward({
      batch: 1,
      ids: BigInt64Array.of(BigInt(special.mask ?? special.eos)),
      positions: BigInt64Array.of(0n),
      gather: BigInt64Array.of(0n),
      keep: BigInt64Array.of(0n),
    });
  } catch (err) {
    throw new ModelError(onnxFile, `a probe forward failed (${(err as Error).message.split('\n')[0]})`);
  }
  if (out.logits.length !== vocabSize) {
    throw new ModelError(onnxFile, `the graph returns ${out.logits.length} logits per position, config.json vocab_size is ${vocabSize}`);
  }
}
