// Defaults for every engine knob, and the checks that turn a partial, user-given value into a complete one.
// Why these values (figures in docs/benchmarks.md):
// - cache on, no refresh: a cached span step costs about a tenth of the full pass it replaces (4.7 vs
//   40.6 ms at 512 tokens of context), and a refresh every 4 steps made requests 2-2.5x slower;
// - threshold 0.9: Fast-dLLM's value, and the trainer's own held-out check (`infill_exact.fast_threshold`
//   in config.json) measures exact match at it against one-token-per-step decoding;
// - steps 16: bounds the worst case (a span the model is unsure about everywhere) at one full pass plus
//   15 span steps, about 200 ms at 512 tokens here; confident spans finish well before the cap;
// - lengthThreshold 0.2: deciding the length on the first forward at the 20% point of the model's
//   length distribution took single-line infill from 15.5 to 13.1 forwards and exact match from 1.3% to
//   5.0% (the one-token-per-step reference: 5.0% in 30.3 forwards); 0.5 kept answers too long;
//   write-before defaults to 0 instead (before.ts): names of invented facts came out cut short with
//   it; Fill Blanks without a rule tries several and keeps each blank's best fill (fill.ts);
// - repeatGuard and fit (healing, scope) on: on the realistic suite (gaps as editors make them) they
//   took exact match from 2.7% to 16.4% and repetition from 7.3% to 1.0% of answers (benchmarks.md);
// - context 512, 3/4 of it before the gap: the target case of the latency goals; the text before the
//   cursor says more about a line than the text after it.
import type { ContextOptions, FitOptions, SamplerOptions } from './api';
import { RequestError } from './errors';

export const DEFAULT_SAMPLER: Readonly<SamplerOptions> = Object.freeze({
  steps: 16,
  threshold: 0.9,
  temperature: 0,
  topK: 0,
  guidance: 0,
  order: 'confidence',
  blockLength: 0,
  remask: 0,
  minTokens: 0,
  lengthThreshold: 0.2,
  repeatGuard: true,
  cache: true,
  cacheRefresh: 0,
  seed: 0,
  timeBudgetMs: 0,
});

export const DEFAULT_CONTEXT: Readonly<ContextOptions> = Object.freeze({
  maxContextTokens: 512,
  prefixShare: 0.75,
});

/** Canvas sizes (tokens) per task when the request gives none. */
export const DEFAULT_MAX_TOKENS = Object.freeze({ infill: 32, fillPerBlank: 16, before: 64 });

/**
 * Canvas sizes for a model with the "fixed" length rule (no end token: every canvas position becomes
 * a token of the answer, docs/model-format.md), where a request's maxTokens is a bound, not the length.
 * - Ghost text and Write What Comes Before: 16 tokens, about one line of code (a line here is 8-12
 *   tokens on average). Their answer scope keeps a line (or a block the line opens, or the lines that
 *   end at the anchor), and nothing ends decoding early without an end token: every position costs
 *   work, and a longer canvas only makes the model invent text the scope then drops. Both decode once,
 *   as they do with an end token.
 * - Fill Blanks: each of these lengths (those within maxTokensPerBlank) gives one joint answer, and
 *   each blank keeps its best fill among them (fill.ts), as the length-rule candidates do for a model
 *   with an end token: the same number of decodes. A blank's text is usually one to a few tokens (a
 *   name, an argument), hence the short lengths first.
 */
export const FIXED_CANVAS = Object.freeze({ line: 16, blankLengths: Object.freeze([1, 2, 4, 8, 16]) });

function range(name: string, v: number, lo: number, hi: number, integer: boolean): void {
  if (typeof v !== 'number' || Number.isNaN(v) || v < lo || v > hi || (integer && !Number.isInteger(v))) {
    throw new RequestError(`option ${name} must be ${integer ? 'an integer' : 'a number'} in [${lo}, ${hi}] (got ${String(v)})`);
  }
}

export function resolveSampler(partial: Partial<SamplerOptions> | undefined): SamplerOptions {
  const o: SamplerOptions = { ...DEFAULT_SAMPLER };
  for (const [k, v] of Object.entries(partial ?? {})) {
    if (v !== undefined) (o as unknown as Record<string, unknown>)[k] = v;
  }
  range('steps', o.steps, 1, 1 << 20, true);
  range('threshold', o.threshold, 0, 1, false);
  range('temperature', o.temperature, 0, 100, false);
  range('topK', o.topK, 0, 1 << 30, true);
  range('guidance', o.guidance, 0, 100, false);
  if (o.order !== 'confidence' && o.order !== 'random') throw new RequestError(`option order must be 'confidence' or 'random' (got ${String(o.order)})`);
  range('blockLength', o.blockLength, 0, 1 << 20, true);
  range('remask', o.remask, 0, 0.99, false);
  range('minTokens', o.minTokens, 0, 1 << 20, true);
  range('lengthThreshold', o.lengthThreshold, 0, 1, false);
  if (typeof o.cache !== 'boolean') throw new RequestError('option cache must be true or false');
  if (typeof o.repeatGuard !== 'boolean') throw new RequestError('option repeatGuard must be true or false');
  range('cacheRefresh', o.cacheRefresh, 0, 1 << 20, true);
  range('seed', o.seed, 0, 2 ** 32 - 1, true);
  range('timeBudgetMs', o.timeBudgetMs, 0, 1e9, false);
  return o;
}

export function resolveContext(partial: Partial<ContextOptions> | undefined): ContextOptions {
  const o: ContextOptions = { ...DEFAULT_CONTEXT };
  for (const [k, v] of Object.entries(partial ?? {})) {
    if (v !== undefined) (o as unknown as Record<string, unknown>)[k] = v;
  }
  range('maxContextTokens', o.maxContextTokens, 0, 1 << 20, true);
  range('prefixShare', o.prefixShare, 0, 1, false);
  return o;
}

export const DEFAULT_FIT: Readonly<FitOptions> = Object.freeze({ heal: true, scope: true });

export function resolveFit(partial: Partial<FitOptions> | undefined): FitOptions {
  const o: FitOptions = { ...DEFAULT_FIT };
  for (const [k, v] of Object.entries(partial ?? {})) {
    if (v === undefined) continue;
    if (k !== 'heal' && k !== 'scope') throw new RequestError(`unknown fit option ${k}`);
    if (typeof v !== 'boolean') throw new RequestError(`fit option ${k} must be true or false`);
    o[k] = v;
  }
  return o;
}
