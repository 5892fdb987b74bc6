// Fill every blank of a document jointly: one canvas with a run of masks per blank, so each fill sees
// the others as they are decoded.
import type { FillRequest, FillResult } from './api';
import { armFill } from './arm-tasks';
import { buildCanvas, checkMaxTokens } from './canvas';
import { prepareGap } from './gap';
import { fitsItsLine } from './scope';
import { RequestError } from './errors';
import type { Model } from './model';
import { DEFAULT_MAX_TOKENS, FIXED_CANVAS, resolveContext, resolveFit, resolveSampler } from './options';
import { sample } from './sampler';

/**
 * Length rules tried when the caller sets none: none at all (the answer runs until the model commits
 * [PAD] like any token; names of invented facts need it: forward recall 65% with the rule at 0.2, 100%
 * without), and the first-forward rule at five quantiles of the model's length estimate.
 */
const LENGTH_CANDIDATES = [0, 0.5, 0.25, 0.1, 0.05, 0.02] as const;

export async function fill(model: Model, request: FillRequest): Promise<FillResult> {
  // A causal fill-in-the-middle model fills the blanks one at a time, left to right (arm-tasks.ts).
  if (model.config.format === 'diffill-arm') return armFill(model, request);
  const started = performance.now();
  // A marked blank asks for text: unless the caller says otherwise, never fill it with nothing.
  const sampler = resolveSampler({ ...request.sampler, minTokens: request.sampler?.minTokens ?? 1 });
  const fit = resolveFit(request.fit);
  const n = checkMaxTokens(request.maxTokensPerBlank ?? DEFAULT_MAX_TOKENS.fillPerBlank, 'maxTokensPerBlank');
  if (request.blanks.length === 0) {
    return { fills: [], latencyMs: performance.now() - started, forwards: 0, tokens: 0, truncated: false };
  }
  const texts: string[] = [];
  let at = 0;
  request.blanks.forEach(({ start, end }, k) => {
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < at || end < start || end > request.text.length) {
      throw new RequestError(`blank ${k} [${start}, ${end}) is out of order, overlapping or outside the text`);
    }
    texts.push(request.text.slice(at, start));
    at = end;
  });
  texts.push(request.text.slice(at));
  // Each blank's edges are fitted like the cursor's gap (gap.ts), against the text up to its neighbours.
  const gaps = request.blanks.map((_, k) => prepareGap(model.tokenizer, model.config.vocabSize, texts[k]!, texts[k + 1]!, fit, true));
  const pieces = texts.map((t, k) => {
    let piece = k < gaps.length ? gaps[k]!.before : t;
    // The text after a gap may start with a borrowed line break; the next gap's text before it does not.
    if (k > 0) piece = gaps[k - 1]!.after.slice(0, gaps[k - 1]!.after.length - texts[k]!.length) + piece;
    return piece;
  });
  const context = resolveContext(request.context);
  const canvasOf = (length: number) => {
    const built = buildCanvas(model, pieces, request.blanks.map(() => length), context);
    return {
      ...built,
      spans: built.spans.map((s, k) => ({ ...s, ...(gaps[k]!.healed ? { healed: gaps[k]!.healed } : {}), ...(gaps[k]!.bannedFirst ? { bannedFirst: gaps[k]!.bannedFirst } : {}) })),
    };
  };
  // The answer's length: a marked blank is an explicit request, so it may cost a few decodes. Unless
  // the caller fixes the length rule, each candidate rule gives one joint answer, and each blank takes
  // its best fill among them: an empty one or one that breaks its line (fitsItsLine) loses, then the
  // model's own log-probability of the fill and of its end decides (ties: the earlier rule). Not per
  // token: a long fill collects near-certain continuation tokens, and the mean then always prefers it
  // (examples/blanks.py: the mean picked a 16-token run-on comprehension over "handle").
  // A model without an end token (length rule "fixed") has no length rule to vary: the candidates are
  // canvas lengths instead (FIXED_CANVAS, options.ts), and a fill's score is its mean log-probability per
  // token, since every candidate's sum would favour the shortest.
  const fixed = model.config.lengthRule === 'fixed';
  const rules = request.sampler?.lengthThreshold !== undefined ? [sampler.lengthThreshold] : LENGTH_CANDIDATES;
  const tries = fixed
    ? [...new Set([...FIXED_CANVAS.blankLengths.filter((len) => len < n), Math.min(n, FIXED_CANVAS.line)])].map((length) => ({ length, lengthThreshold: 0 }))
    : rules.map((lengthThreshold) => ({ length: n, lengthThreshold }));
  const best: Array<{ fill: string; valid: boolean; score: number; tokens: number } | null> = gaps.map(() => null);
  let forwards = 0;
  let truncated = false;
  const canvases = new Map<number, ReturnType<typeof canvasOf>>();
  for (const { length, lengthThreshold } of tries) {
    if (!canvases.has(length)) canvases.set(length, canvasOf(length));
    const out = await sample(model, canvases.get(length)!, { ...sampler, lengthThreshold }, request.signal);
    forwards += out.forwards;
    truncated ||= out.truncated;
    out.spans.forEach((ids, k) => {
      const fill = gaps[k]!.finish(ids, fixed ? null : length);
      const valid = fill.trim() !== '' && fitsItsLine(fill, texts[k]!, texts[k + 1]!);
      const score = fixed ? out.logProbs[k]! / Math.max(1, ids.length) : out.logProbs[k]!;
      const b = best[k];
      if (b === null || (valid && !b.valid) || (valid === b.valid && score > b.score)) best[k] = { fill, valid, score, tokens: ids.length };
    });
  }
  return {
    fills: best.map((b) => b!.fill),
    latencyMs: performance.now() - started,
    forwards,
    tokens: best.reduce((a, b) => a + b!.tokens, 0),
    truncated,
  };
}
