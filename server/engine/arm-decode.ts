// The autoregressive path for a "diffill-arm" model (a causal fill-in-the-middle model,
// docs/model-format.md): the gap becomes a prompt in prefix-suffix-middle order,
//
//   <fim_prefix> [BOS] text before the gap <fim_suffix> text after the gap [EOS] <fim_middle>
//
// (BOS/EOS only where the context reaches the document's start/end, as the diffusion canvas places
// them and as the trainer builds its fill-in-the-middle rows), one forward encodes it and keeps every
// position's K/V, and then each step runs one token against everything before it, greedily, until the
// model writes its end-of-middle token, the answer's scope is settled, or the token budget is spent.
// The trainer's reference decoder (diffill_trainer/sample_arm.py) is the same algorithm. The same ONNX graph serves both steps: for a
// causal model every cached position is visible to the new tokens.
import type { ContextOptions } from './api';
import { takeWindow } from './context';
import { RequestError, throwIfAborted } from './errors';
import { allowedNext, isBlanks } from './heal';
import type { KvCache, Model } from './model';
import type { FimIds } from './config';
import { Prng } from './prng';
import { checkpoint } from './scheduler';
import { chooseSampled } from './scoring';

/** The FIM ids of a "diffill-arm" model; only the autoregressive path asks. */
export function fimIds(model: Model): FimIds {
  if (model.config.fim === null) throw new Error(`model format ${model.config.format} has no fill-in-the-middle tokens`);
  return model.config.fim;
}

/** Prompt positions that are not text: the three FIM markers, BOS (when the model has one) and EOS. */
function markerCount(model: Model): number {
  return 3 + (model.config.special.bos === null ? 0 : 1) + 1;
}

/**
 * The prompt of one gap. The answer's `maxTokens` positions come out of max_position first (the
 * tokens it writes are positions too); the text around the gap shares the rest, within the context
 * budget, exactly as the diffusion canvas splits it (context.ts). `documentEnds`: false when the text
 * after the gap stops where the next blank starts, not at the document's end (no EOS then).
 */
export function armPrompt(model: Model, before: string, after: string, maxTokens: number, context: ContextOptions, documentEnds = true): Int32Array {
  const { special, maxPosition } = model.config;
  const fim = fimIds(model);
  const room = maxPosition - markerCount(model) - maxTokens;
  if (room < 0) {
    throw new RequestError(`an answer of ${maxTokens} tokens does not fit: the model reads at most ${maxPosition - markerCount(model)} tokens besides its markers`);
  }
  const { prefix, suffix } = takeWindow(model.tokenizer, before, after, Math.min(context.maxContextTokens, room), context);
  const ids: number[] = [fim.prefix];
  if (prefix.complete && special.bos !== null) ids.push(special.bos);
  ids.push(...prefix.ids, fim.suffix, ...suffix.ids);
  if (suffix.complete && documentEnds) ids.push(special.eos);
  ids.push(fim.middle);
  return Int32Array.from(ids);
}

export interface ArmDecodeOptions {
  /** Most tokens written (the end-of-middle token not counted). */
  maxTokens: number;
  /** Token healing (heal.ts): the answer must start with these UTF-8 bytes. */
  healed?: Uint8Array;
  /** Tokens the first position may not take (healing off: the moved space, boundary.ts). */
  bannedFirst?: readonly number[];
  /** The answer may not end before this many tokens that write text past the healed bytes. */
  minTokens: number;
  /** With the answer's scope on: true once the ids written so far settle its text (gap.ts). */
  settled?: (ids: readonly number[]) => boolean;
  /** Wall-clock budget in ms (0: none); on expiry the answer so far is returned. */
  timeBudgetMs: number;
  /**
   * 0 (the default): greedy. Above 0: each token is drawn from softmax(logits / temperature) over the
   * allowed tokens, within the `topK` best (0: all), seeded by `seed`, as the diffusion sampler draws
   * (scoring.ts): the editor asks for alternatives this way.
   */
  temperature?: number;
  topK?: number;
  seed?: number;
  signal?: AbortSignal;
}

export interface ArmDecodeResult {
  /** The tokens written, without the end-of-middle token. */
  ids: number[];
  forwards: number;
  /** Why decoding stopped: the model ended the middle, the scope settled, the budget or the clock ran out. */
  ended: 'eom' | 'settled' | 'length' | 'time';
}

/**
 * Ids a middle may never hold: every special token (they write no text) but the end-of-middle token.
 * `<fim_suffix>` and friends are markers of the prompt; BOS, [PAD] and [MASK] are no text either, and
 * EOS marks the document's end, which the prompt's suffix already places: a middle ends at <eom>.
 */
const bannedMemo = new WeakMap<Model, Int32Array>();
function bannedIds(model: Model): Int32Array {
  let banned = bannedMemo.get(model);
  if (banned !== undefined) return banned;
  const fim = fimIds(model);
  const out: number[] = [];
  for (let id = 0; id < model.config.vocabSize; id++) {
    if (id === fim.eom) continue;
    let bytes: Uint8Array;
    try {
      bytes = model.tokenizer.tokenBytes!(id);
    } catch {
      continue; // rows past the tokenizer (a padded embedding): the graph never emits them
    }
    if (bytes.length === 0) out.push(id);
  }
  banned = Int32Array.from(out);
  bannedMemo.set(model, banned);
  return banned;
}

/** Argmax of a row; ties go to the lowest id (as torch.argmax). */
function argmax(row: Float32Array): number {
  let best = 0;
  let max = row[0]!;
  for (let i = 1; i < row.length; i++) {
    if (row[i]! > max) {
      max = row[i]!;
      best = i;
    }
  }
  return best;
}

/** `cache` with one more position (`one`, [1, n_kv_head, 1, Dh] per layer) appended. */
function grow(model: Model, cache: KvCache, one: KvCache): KvCache {
  const { nKvHead, headDim } = model.config;
  const C = cache.length;
  const join = (past: Float32Array, next: Float32Array): Float32Array => {
    const out = new Float32Array(nKvHead * (C + 1) * headDim);
    for (let h = 0; h < nKvHead; h++) {
      out.set(past.subarray(h * C * headDim, (h + 1) * C * headDim), h * (C + 1) * headDim);
      out.set(next.subarray(h * headDim, (h + 1) * headDim), (h * (C + 1) + C) * headDim);
    }
    return out;
  };
  return model.makeCache(
    1,
    C + 1,
    cache.keys.map((k, i) => join(k.data as Float32Array, one.keys[i]!.data as Float32Array)),
    cache.values.map((v, i) => join(v.data as Float32Array, one.values[i]!.data as Float32Array)),
  );
}

/**
 * Decoding of the middle after `prompt` (which ends with <fim_middle>), greedy unless a temperature is given. Before every forward the
 * request may give the session to urgent work (scheduler.ts `checkpoint`) and stops when cancelled;
 * its K/V cache is its own, so it resumes where it was.
 */
export async function armDecode(model: Model, prompt: Int32Array, options: ArmDecodeOptions): Promise<ArmDecodeResult> {
  const { signal } = options;
  const fim = fimIds(model);
  const vocab = model.config.vocabSize;
  const banned = bannedIds(model);
  const deadline = options.timeBudgetMs > 0 ? Date.now() + options.timeBudgetMs : Infinity;
  const temperature = options.temperature ?? 0;
  const rng = temperature > 0 ? new Prng(options.seed ?? 0) : null;
  let rem = options.healed ?? new Uint8Array(0);
  const blanks = isBlanks(rem);
  const ids: number[] = [];
  /** Tokens that wrote text past the healed bytes (minTokens counts these). */
  let written = 0;
  let forwards = 0;

  const step = async (input: { ids: BigInt64Array; positions: BigInt64Array; gather: BigInt64Array; keep: BigInt64Array; past?: KvCache }) => {
    throwIfAborted(signal);
    // Urgent work waiting for the session (ghost text) runs here, between two forwards of this request.
    await checkpoint(signal);
    throwIfAborted(signal);
    const out = await model.forward({ batch: 1, ...input });
    throwIfAborted(signal);
    forwards++;
    return out;
  };

  const L = prompt.length;
  const all = BigInt64Array.from({ length: L }, (_, i) => BigInt(i));
  let out = await step({ ids: BigInt64Array.from(prompt, (t) => BigInt(t)), positions: all, gather: BigInt64Array.of(BigInt(L - 1)), keep: all });
  let cache = out.present!;
  for (;;) {
    // The row is this forward's own: bans are written into it.
    const row = out.logits;
    for (const id of banned) row[id] = -Infinity;
    if (ids.length === 0 && options.bannedFirst) for (const id of options.bannedFirst) row[id] = -Infinity;
    if (rem.length > 0) {
      // Healing: only a token that continues the removed text (special tokens never do, so the answer
      // cannot end inside it).
      const ok = allowedNext(model.tokenizer, vocab, rem, blanks);
      for (let v = 0; v < vocab; v++) if (ok[v] === 0) row[v] = -Infinity;
    } else if (written < options.minTokens) {
      row[fim.eom] = -Infinity;
    }
    const token = rng === null ? argmax(row) : chooseSampled(row, -1, temperature, options.topK ?? 0, rng).token;
    if (token === fim.eom) return { ids, forwards, ended: 'eom' };
    ids.push(token);
    const bytes = model.tokenizer.tokenBytes!(token);
    if (rem.length > 0) {
      if (bytes.length > rem.length) written++;
      rem = bytes.length >= rem.length ? new Uint8Array(0) : rem.subarray(bytes.length);
    } else {
      written++;
    }
    if (ids.length >= options.maxTokens) return { ids, forwards, ended: 'length' };
    if (rem.length === 0 && options.settled?.(ids)) return { ids, forwards, ended: 'settled' };
    if (Date.now() >= deadline) return { ids, forwards, ended: 'time' };
    const at = BigInt(L + ids.length - 1);
    out = await step({ ids: BigInt64Array.of(BigInt(token)), positions: BigInt64Array.of(at), gather: BigInt64Array.of(0n), keep: BigInt64Array.of(0n), past: cache });
    cache = grow(model, cache, out.present!);
  }
}
