// One reverse-diffusion forward: logits (after classifier-free guidance) at chosen canvas positions.
// Two strategies share the interface:
// - full recompute (the exact reference): the whole canvas every step; with guidance both rows go
//   through one batched forward (B = 2);
// - cached (the DualCache idea): one full pass gives the context K/V, then each step runs only the span
//   tokens against it; `cacheRefresh` re-encodes every N steps. With guidance the conditional and the
//   unconditional row keep separate caches, and the unconditional one comes from a per-length memo
//   (masked-context.ts), so guidance adds span steps but no second full pass.
// A shifted model (config logitShift 1) reads the logits of position p from the output at p - 1
// (position 0 from its own). Full passes gather p - 1. A span step must recompute the output of the
// token just before each span, so that token runs with the span in every step and is left out of the
// cached context (no position's K/V appears twice); it is context all the same for guidance, whose
// unconditional row holds [MASK] there.
import { maskedContextCache } from './masked-context';
import type { KvCache, Model } from './model';
import { maskId } from './config';

export interface CanvasLayout {
  /** Canvas length. */
  length: number;
  /** Positions of every span token (masked or committed), ascending. */
  spanPositions: readonly number[];
  /** Every other position (prefix, suffix, BOS/EOS, text between blanks), ascending. */
  contextPositions: readonly number[];
}

export interface DenoiserOptions {
  /** CFG strength w; 0 = off (batch of 1). */
  guidance: number;
  cache: boolean;
  /** Re-encode the context every N steps (0: only at the first step). */
  cacheRefresh: number;
}

export interface Denoiser {
  /** Logits [positions.length * vocab] at `positions` (ascending canvas indices) for the current canvas. */
  logits(canvas: Int32Array, positions: readonly number[], step: number): Promise<Float32Array>;
  /** Denoising forwards so far (the conditional + unconditional pair of a guided step counts once). */
  readonly forwards: number;
  /** Of those, the ones that ran the whole canvas (full recompute or cache (re)fill). */
  readonly fullForwards: number;
}

/** Unsupervised CFG into `cond`, in place: un + (1 + w)(cond - un). */
function guide(cond: Float32Array, un: Float32Array, w: number): Float32Array {
  const a = 1 + w;
  for (let i = 0; i < cond.length; i++) cond[i] = un[i]! + a * (cond[i]! - un[i]!);
  return cond;
}

function toBig(xs: readonly number[]): BigInt64Array {
  const out = new BigInt64Array(xs.length);
  for (let i = 0; i < xs.length; i++) out[i] = BigInt(xs[i]!);
  return out;
}

export function createDenoiser(model: Model, layout: CanvasLayout, options: DenoiserOptions): Denoiser {
  const mask = maskId(model.config);
  const vocab = model.config.vocabSize;
  const guided = options.guidance > 0;
  const L = layout.length;
  const isContext = new Uint8Array(L);
  for (const p of layout.contextPositions) isContext[p] = 1;
  const shift = model.config.logitShift;
  /** The output position whose logits are position p's. */
  const source = (p: number): number => (shift === 1 && p > 0 ? p - 1 : p);
  const isSpan = new Uint8Array(L);
  for (const p of layout.spanPositions) isSpan[p] = 1;
  // The positions a span step runs: the spans, and under a shift each span's context predecessor.
  const stepPositions = shift === 1 ? Array.from({ length: L }, (_, i) => i).filter((p) => isSpan[p] || (p + 1 < L && isSpan[p + 1] && isContext[p])) : layout.spanPositions;
  const cachePositions = shift === 1 ? layout.contextPositions.filter((p) => !isSpan[p + 1]) : layout.contextPositions;
  const allPositions = toBig(Array.from({ length: L }, (_, i) => i));
  const keepContext = toBig(cachePositions);
  const noKeep = new BigInt64Array(0);
  const spanPos = toBig(stepPositions);
  const spanIndex = new Map(stepPositions.map((p, i) => [p, i]));
  // Without context to cache every step is a full pass anyway.
  const cached = options.cache && cachePositions.length > 0;
  // Buffers reused by every step of the request.
  const rows = guided && !cached ? 2 : 1;
  const fullIds = new BigInt64Array(rows * L);
  const spanIds = new BigInt64Array(stepPositions.length);
  let condCache: KvCache | null = null;
  let uncondCache: KvCache | null = null;
  let forwards = 0;
  let fullForwards = 0;

  /** Fills `fullIds` row 0 with the canvas and, when asked, row `row` with its unconditional version. */
  function fillFull(canvas: Int32Array, unconditionalRow: number | null): void {
    for (let i = 0; i < L; i++) fullIds[i] = BigInt(canvas[i]!);
    if (unconditionalRow !== null) {
      const o = unconditionalRow * L;
      for (let i = 0; i < L; i++) fullIds[o + i] = isContext[i] ? BigInt(mask) : BigInt(canvas[i]!);
    }
  }

  function spanGather(positions: readonly number[]): BigInt64Array {
    const gather = new BigInt64Array(positions.length);
    for (let i = 0; i < positions.length; i++) {
      if (!isSpan[positions[i]!]) throw new Error(`position ${positions[i]} is not in a span`);
      gather[i] = BigInt(spanIndex.get(source(positions[i]!))!);
    }
    return gather;
  }

  /** The full pass's gather index: each position's source output. */
  const fullGather = (positions: readonly number[]): BigInt64Array => toBig(positions.map(source));

  /** One span step; `unconditional`: the guidance row, whose context positions (predecessors too) hold [MASK]. */
  async function spanStep(canvas: Int32Array, gather: BigInt64Array, past: KvCache, unconditional = false): Promise<Float32Array> {
    for (let i = 0; i < stepPositions.length; i++) {
      const p = stepPositions[i]!;
      spanIds[i] = BigInt(unconditional && isContext[p] ? mask : canvas[p]!);
    }
    return (await model.forward({ batch: 1, ids: spanIds, positions: spanPos, gather, keep: noKeep, past })).logits;
  }

  async function fullRecompute(canvas: Int32Array, positions: readonly number[]): Promise<Float32Array> {
    fillFull(canvas, guided ? 1 : null);
    const out = await model.forward({ batch: rows, ids: fullIds, positions: allPositions, gather: fullGather(positions), keep: noKeep });
    const P = positions.length * vocab;
    return guided ? guide(out.logits.subarray(0, P), out.logits.subarray(P, 2 * P), options.guidance) : out.logits;
  }

  async function cachedStep(canvas: Int32Array, positions: readonly number[], step: number): Promise<Float32Array> {
    const refresh = condCache === null || (options.cacheRefresh > 0 && step % options.cacheRefresh === 0);
    const gatherFull = fullGather(positions);
    let cond: Float32Array;
    let un: Float32Array | null = null;
    if (refresh) {
      fillFull(canvas, null);
      const out = await model.forward({ batch: 1, ids: fullIds, positions: allPositions, gather: gatherFull, keep: keepContext });
      condCache = out.present;
      cond = out.logits;
      fullForwards++;
      if (guided) {
        const spanAllMasked = layout.spanPositions.every((p) => canvas[p] === mask);
        if (spanAllMasked) {
          const memo = await maskedContextCache(model, L, cachePositions);
          if (memo.computed) fullForwards++;
          uncondCache = memo.cache;
          un = await spanStep(canvas, spanGather(positions), uncondCache, true);
        } else {
          fillFull(canvas, 0); // row 0 reused: the conditional ids were already consumed
          const u = await model.forward({ batch: 1, ids: fullIds, positions: allPositions, gather: gatherFull, keep: keepContext });
          uncondCache = u.present;
          un = u.logits;
          fullForwards++;
        }
      }
    } else {
      const gather = spanGather(positions);
      cond = await spanStep(canvas, gather, condCache!);
      if (guided) un = await spanStep(canvas, gather, uncondCache!, true);
    }
    return un === null ? cond : guide(cond, un, options.guidance);
  }

  return {
    get forwards() {
      return forwards;
    },
    get fullForwards() {
      return fullForwards;
    },
    async logits(canvas, positions, step) {
      forwards++;
      if (!cached) {
        fullForwards++;
        return fullRecompute(canvas, positions);
      }
      return cachedStep(canvas, positions, step);
    },
  };
}
