// The reverse-diffusion sampler: starting from a canvas whose spans are all [MASK], each step runs one
// forward and commits tokens, until no mask is left.
//
// Commit rule (confidence order): every eligible masked position whose confidence >= threshold, and at
// least the most confident one (ties: leftmost), and at least ceil(masked / steps left) so that `steps`
// bounds the number of forwards. threshold = 1 therefore commits exactly one token per step when steps
// >= span length; this greedy path is the reference algorithm of the trainer's sampler, token for token.
// A committed [PAD] turns every still-masked position to its right in the same span into [PAD]
// (variable-length infill); [PAD]s are dropped from the result. "[PAD]" here is the model's end token
// (config endId, docs/model-format.md length_rule): [PAD] itself, or EOS for a model whose answers end
// at their first EOS. A model with the "fixed" rule has none: every span position is a real token, no
// position ends the answer early, and nothing is dropped.
import type { SamplerOptions } from './api';
import { createDenoiser } from './denoiser';
import { throwIfAborted } from './errors';
import { checkpoint } from './scheduler';
import type { Model } from './model';
import { maskId } from './config';
import { Prng } from './prng';
import { allowedNext, isBlanks } from './heal';
import { deferRepeats } from './repeat-guard';
import { type Choice, type GreedyScan, advanceScan, blockSum, chooseSampled, startScan, tokenProbability } from './scoring';

export interface Span {
  /** Canvas index of the span's first token. */
  start: number;
  length: number;
  /** Token ids the span's first position may not take (see boundary.ts: the lone space token). */
  bannedFirst?: readonly number[];
  /**
   * Token healing (heal.ts): the span's text must start with these UTF-8 bytes, taken off the text
   * before it. Its first positions are decided first, each among the tokens that continue them.
   */
  healed?: Uint8Array;
  /**
   * True when the answer's text is already settled by the span's leading committed tokens (given in
   * order, no [PAD]), whatever the later positions would hold: the sampler then ends the span there
   * (its masks become [PAD]) instead of spending forwards on text the caller drops (gap.ts: an answer
   * that is cut at its first line break once that line break is written). Ignored when re-masking,
   * which may take a committed token back.
   */
  settled?: (ids: readonly number[]) => boolean;
}

export interface Canvas {
  /** The whole sequence the model sees; span positions hold the mask id. */
  ids: Int32Array;
  /** Non-overlapping, ascending. */
  spans: readonly Span[];
}

export interface SampleResult {
  /** Per span: committed tokens in order, [PAD] removed. */
  spans: number[][];
  forwards: number;
  /** Non-[PAD] tokens committed. */
  tokens: number;
  /** True when the time budget ended decoding early (the remaining masks were filled greedily at once). */
  truncated: boolean;
  /**
   * Per span: the sum of log-probabilities of its tokens when they were committed, with the [PAD]s
   * chosen (not those broadcast): the model's own score of the answer and of where it ends (used to
   * rerank candidate answers, fill.ts).
   */
  logProbs: number[];
}

/** Sees every step's commits: [position, token] sorted by position, [PAD] broadcasts included. */
export type StepObserver = (step: number, commits: Array<[number, number]>) => void;

export async function sample(
  model: Model,
  canvas: Canvas,
  options: SamplerOptions,
  signal?: AbortSignal,
  observe?: StepObserver,
): Promise<SampleResult> {
  const { bos, eos } = model.config.special;
  const mask = maskId(model.config);
  // -1 under the "fixed" rule: no token is the end token, so no rule below ever sees one.
  const pad = model.config.endId ?? -1;
  // A [PAD] that is not the end token (a model with [PAD] served under "eos" or "fixed") is no text.
  const idlePad = model.config.special.pad !== null && model.config.special.pad !== pad ? model.config.special.pad : -1;
  const vocab = model.config.vocabSize;
  const ids = Int32Array.from(canvas.ids);
  const L = ids.length;
  const spanOf = new Int32Array(L).fill(-1);
  const spanPositions: number[] = [];
  canvas.spans.forEach((s, k) => {
    if (s.start < 0 || s.length < 0 || s.start + s.length > L) throw new RangeError(`span ${k} lies outside the canvas`);
    for (let p = s.start; p < s.start + s.length; p++) {
      if (spanOf[p] !== -1) throw new RangeError(`spans overlap at position ${p}`);
      spanOf[p] = k;
      ids[p] = mask;
      spanPositions.push(p);
    }
  });
  spanPositions.sort((a, b) => a - b);
  const contextPositions: number[] = [];
  for (let p = 0; p < L; p++) if (spanOf[p] === -1) contextPositions.push(p);
  const rank = new Map(spanPositions.map((p, i) => [p, i]));
  /** Positions where [PAD] may not be chosen (the first `minTokens` of each span). */
  const noPad = new Set<number>();
  for (const s of canvas.spans) for (let i = 0; i < Math.min(options.minTokens, s.length); i++) noPad.add(s.start + i);
  // Under "eos" the answer ends at its first EOS (SMDM's conditional generation cuts there): a token
  // committed right of it in the same or an earlier step is no part of it. [PAD]s are dropped wherever
  // they stand, as the reference sampler does.
  const cutAtEnd = model.config.lengthRule === 'eos';
  const collect = (): SampleResult['spans'] =>
    canvas.spans.map((s) => {
      const span = Array.from(ids.subarray(s.start, s.start + s.length));
      const end = cutAtEnd ? span.indexOf(pad) : -1;
      return end >= 0 ? span.slice(0, end) : span.filter((t) => t !== pad);
    });

  const started = Date.now();
  const deadline = options.timeBudgetMs > 0 ? started + options.timeBudgetMs : Infinity;
  const rng = new Prng(options.seed);
  const total = spanPositions.length;
  const maxSteps = Math.max(1, Math.min(options.steps, total));
  const denoiser = createDenoiser(model, { length: L, spanPositions, contextPositions }, options);
  /** Step at which each position was committed by choice (-1: not, or filled by [PAD] broadcast). */
  const committedAt = new Int32Array(L).fill(-1);
  let masked = spanPositions.slice();
  let truncated = false;
  const logProb = canvas.spans.map(() => 0);
  /** log P([PAD]) where the length rule placed the end of a span this step. */
  const padLogProb = new Map<number, number>();
  /** Healed spans still spelling out their removed text: the next position to decide and what is left. */
  const healing = canvas.spans.flatMap((s, k) =>
    s.healed !== undefined && s.healed.length > 0 && s.length > 0 ? [{ span: k, pos: s.start, rem: s.healed, blanks: isBlanks(s.healed) }] : [],
  );
  /** Positions whose token spelled out healed text: re-masking may not take them back (no constraint would hold them). */
  const spelled = new Set<number>();
  const tokenBytes = (id: number): Uint8Array => {
    if (!model.tokenizer.tokenBytes) throw new Error('token healing needs a tokenizer that gives token bytes');
    return model.tokenizer.tokenBytes(id);
  };

  /**
   * Commits tokens chosen in one step, then lets the leftmost committed [PAD] of each span fill every
   * still-masked position to its right. Tokens chosen in the same step to the right of that [PAD] stay
   * (they are dropped with the [PAD]s only if they are [PAD] themselves), as in the reference sampler.
   */
  const commitAll = (chosen: ReadonlyArray<readonly [number, number]>, step: number): void => {
    const firstPad = new Map<number, number>();
    const log: Array<[number, number]> | null = observe ? chosen.map(([p, t]) => [p, t]) : null;
    for (const [p, token] of chosen) {
      ids[p] = token;
      committedAt[p] = step;
      const k = spanOf[p]!;
      if (token === pad && !(firstPad.get(k)! <= p)) firstPad.set(k, p);
    }
    if (options.remask === 0) {
      // A span whose leading tokens settle its answer ends after them (see Span.settled).
      canvas.spans.forEach((s, k) => {
        // Under the "fixed" rule there is no end token to put there: the span decodes to its end.
        if (s.settled === undefined || firstPad.has(k) || pad < 0) return;
        const lead: number[] = [];
        let p = s.start;
        for (; p < s.start + s.length && ids[p] !== mask && ids[p] !== pad; p++) lead.push(ids[p]!);
        if (p < s.start + s.length && ids[p] === pad) return;
        if (lead.length > 0 && p < s.start + s.length && s.settled(lead)) {
          const q = s.start + lead.length;
          if (ids[q] === mask) {
            ids[q] = pad;
            committedAt[q] = -1;
            log?.push([q, pad]);
          }
          firstPad.set(k, q);
        }
      });
    }
    for (const [k, p] of firstPad) {
      const s = canvas.spans[k]!;
      for (let q = p + 1; q < s.start + s.length; q++) {
        if (ids[q] === mask) {
          ids[q] = pad;
          committedAt[q] = -1;
          log?.push([q, pad]);
        }
      }
    }
    if (log) observe!(step, log.sort((a, b) => a[0] - b[0]));
  };

  for (let step = 0; masked.length > 0; step++) {
    throwIfAborted(signal);
    const stepsLeft = Math.max(1, maxSteps - step);
    // Re-masking needs the current probability of earlier commits, so it gathers the whole span.
    const gathered = options.remask > 0 ? spanPositions.filter((p) => ids[p] !== pad) : masked;
    // Urgent work waiting for the session (ghost text) runs here, between two forwards of this request.
    await checkpoint(signal);
    throwIfAborted(signal);
    const logits = await denoiser.logits(ids, gathered, step);
    throwIfAborted(signal);
    const rowOf = new Map(gathered.map((p, i) => [p, i]));
    const row = (p: number) => logits.subarray(rowOf.get(p)! * vocab, (rowOf.get(p)! + 1) * vocab);
    // This step's logits are ours to edit: ruling [PAD] out here keeps every later rule unchanged.
    // BOS/EOS mark the document's ends, which the canvas places itself: inside a span they are no text
    // (they decode to nothing), so a span may not take them. Every gathered row gets the same bans, so
    // a position that re-masking takes back (and the time budget's final commit may then fill from
    // this step's row) is held to the same rules as one still masked.
    // Under the "eos" rule EOS is the end token: it stays allowed, as [PAD] is, except where minTokens
    // rules the end out.
    for (const p of gathered) {
      const r = row(p);
      if (bos !== null) r[bos] = -Infinity;
      if (eos !== pad) r[eos] = -Infinity;
      if (idlePad >= 0) r[idlePad] = -Infinity;
      if (pad >= 0 && noPad.has(p)) r[pad] = -Infinity;
    }
    for (const s of canvas.spans) {
      if (s.bannedFirst && s.length > 0 && rowOf.has(s.start)) for (const id of s.bannedFirst) row(s.start)[id] = -Infinity;
    }
    // A healing position may only take a token that continues the removed text.
    for (const h of healing) {
      if (h.rem.length === 0 || ids[h.pos] !== mask) continue;
      const ok = allowedNext(model.tokenizer, vocab, h.rem, h.blanks);
      const r = row(h.pos);
      for (let v = 0; v < vocab; v++) if (ok[v] === 0) r[v] = -Infinity;
    }

    // Greedy decoding scans each row for its argmax and computes the softmax denominator (the confidence)
    // only as far as the commit rule needs it; sampling draws a token and its confidence at once.
    const greedy = options.temperature === 0;
    const scans = new Map<number, GreedyScan>();
    const sampled = new Map<number, Choice>();
    for (const p of masked) {
      if (greedy) scans.set(p, startScan(row(p), mask));
      else sampled.set(p, chooseSampled(row(p), mask, options.temperature, options.topK, rng));
    }
    const tokenOf = (p: number): number => (greedy ? scans.get(p)!.token : sampled.get(p)!.token);
    const confidenceOf = (p: number): number => {
      if (!greedy) return sampled.get(p)!.confidence;
      const scan = scans.get(p)!;
      advanceScan(row(p), mask, scan);
      return 1 / scan.sum;
    };

    /**
     * P([PAD]) at p where it may reach the length threshold, else 0 (it is below it). Greedy rows are
     * bounded by their argmax block, then finished on the row's own scan (shared with the confidences):
     * the same value as tokenProbability, without a second pass over a row that cannot pass.
     */
    const padProbability = (p: number): number => {
      if (!greedy) return tokenProbability(row(p), mask, pad);
      const r = row(p);
      const scan = scans.get(p)!;
      const top = Math.exp(r[pad]! - scan.max);
      const limit = (top / options.lengthThreshold) * (1 + 1e-9);
      if (blockSum(r, mask, scan) > limit || !advanceScan(r, mask, scan, limit)) return 0;
      return top / scan.sum;
    };

    // Semi-autoregressive blocks: only the first block that still has masks may commit (not on the last step).
    let eligible = masked;
    if (options.blockLength > 0 && stepsLeft > 1) {
      const block = Math.floor(rank.get(masked[0]!)! / options.blockLength);
      eligible = masked.filter((p) => Math.floor(rank.get(p)! / options.blockLength) === block);
    }
    // A healing position commits this step. When its token spells out only part of the removed text,
    // the rest of its span waits: the next position's allowed tokens depend on this one.
    const healNow = healing.filter((h) => h.rem.length > 0 && ids[h.pos] === mask).map((h) => h.pos);
    for (const h of healing) {
      if (h.rem.length === 0 || ids[h.pos] !== mask) continue;
      if (tokenBytes(tokenOf(h.pos)).length < h.rem.length) {
        const s = canvas.spans[h.span]!;
        eligible = eligible.filter((p) => p <= h.pos || p >= s.start + s.length);
      }
    }
    const need = Math.min(eligible.length, Math.max(1, Math.ceil(masked.length / stepsLeft)));
    let chosen: number[] | null = null;
    if (options.order === 'random') {
      const keyed = eligible.map((p) => ({ p, key: rng.uniform() }));
      keyed.sort((a, b) => b.key - a.key);
      chosen = keyed.slice(0, need).map((k) => k.p);
    } else {
      if (greedy && options.threshold < 1) {
        // Fast path: a row whose partial sum already exceeds 1/threshold is below the threshold. If enough
        // rows pass, the commit set is exactly the passing rows and no other confidence is needed.
        const limit = (1 / options.threshold) * (1 + 1e-9);
        const passing = eligible.filter((p) => {
          const scan = scans.get(p)!;
          if (blockSum(row(p), mask, scan) > limit) return false;
          return advanceScan(row(p), mask, scan, limit) && 1 / scan.sum >= options.threshold;
        });
        if (passing.length >= need) chosen = passing;
      }
      if (chosen === null && greedy) {
        // The `need` most confident rows (here no more rows pass the threshold than that: the fast
        // path counted them). Exact confidences are computed best bound first (blockSum) and stop once
        // no remaining row's bound reaches the need-th best: the same rows, ties leftmost first, as
        // ranking every row exactly, for a fraction of the exp() calls.
        const bounds = eligible.map((p) => ({ p, ub: 1 / blockSum(row(p), mask, scans.get(p)!) }));
        bounds.sort((a, b) => b.ub - a.ub || a.p - b.p);
        const exact: Array<{ p: number; c: number }> = [];
        for (const b of bounds) {
          if (exact.length >= need) {
            const kth = exact.map((e) => e.c).sort((x, y) => y - x)[need - 1]!;
            // The margin covers summation rounding between the block's sum and the row's.
            if (b.ub * (1 + 1e-9) < kth) break;
          }
          exact.push({ p: b.p, c: confidenceOf(b.p) });
        }
        exact.sort((a, b) => b.c - a.c || a.p - b.p);
        chosen = exact.slice(0, need).map((e) => e.p);
      }
      if (chosen === null) {
        const conf = new Map(eligible.map((p) => [p, confidenceOf(p)]));
        // Stable sort on confidence keeps ascending position order among ties: leftmost first.
        const ranked = eligible.slice().sort((a, b) => conf.get(b)! - conf.get(a)!);
        // threshold 1 means one token per step even when a float64 confidence rounds to exactly 1.
        const above = options.threshold >= 1 ? 0 : ranked.filter((p) => conf.get(p)! >= options.threshold).length;
        chosen = ranked.slice(0, Math.max(need, above));
      }
    }
    for (const p of healNow) if (!chosen.includes(p)) chosen.push(p);
    chosen.sort((a, b) => a - b);
    if (options.repeatGuard && stepsLeft > 1) chosen = deferRepeats(chosen, tokenOf, spanOf, healNow, pad);
    const commits = chosen.map((p) => [p, tokenOf(p)] as [number, number]);
    if (options.lengthThreshold > 0 && step === 0 && pad >= 0) {
      // Length first: P([PAD]) at position i of an all-mask span estimates P(answer length <= i), so the
      // first position where it reaches lengthThreshold is that quantile of the length. Committing that [PAD] now (broadcast to
      // the right) saves the forwards that would otherwise commit trailing [PAD]s one by one.
      canvas.spans.forEach((s, k) => {
        // Not inside the healed text: the answer starts by spelling it out.
        const h = healing.find((x) => x.span === k);
        const healedEnd = h === undefined || h.rem.length === 0 ? s.start : h.pos + (tokenBytes(tokenOf(h.pos)).length < h.rem.length ? 2 : 1);
        for (let p = Math.max(s.start + Math.min(options.minTokens, s.length), healedEnd); p < s.start + s.length; p++) {
          const pPad = ids[p] === mask ? padProbability(p) : 0;
          if (pPad < options.lengthThreshold) continue;
          padLogProb.set(p, Math.log(pPad));
          for (let i = commits.length - 1; i >= 0; i--) if (spanOf[commits[i]![0]] === spanOf[p] && commits[i]![0] >= p) commits.splice(i, 1);
          commits.push([p, pad]);
          commits.sort((a, b) => a[0] - b[0]);
          break;
        }
      });
    }
    for (const [p] of commits) logProb[spanOf[p]!] += padLogProb.get(p) ?? Math.log(Math.max(1e-30, confidenceOf(p)));
    padLogProb.clear();
    commitAll(commits, step);
    for (const h of healing) {
      if (h.rem.length === 0 || ids[h.pos] === mask) continue;
      const b = tokenBytes(ids[h.pos]!);
      const s = canvas.spans[h.span]!;
      // A token that only spells out the healed text writes nothing yet: minTokens counts from after it.
      if (b.length === h.rem.length && options.minTokens > 0) for (let i = 1; i <= options.minTokens; i++) noPad.add(h.pos + i);
      h.rem = b.length >= h.rem.length ? new Uint8Array(0) : h.rem.subarray(b.length);
      spelled.add(h.pos);
      h.pos++;
      if (h.pos >= s.start + s.length) h.rem = new Uint8Array(0);
    }

    if (options.remask > 0 && stepsLeft > 2) {
      const fresh = chosen.filter((p) => committedAt[p] === step).length;
      const budget = Math.floor(options.remask * fresh);
      if (budget > 0) {
        const earlier = spanPositions
          .filter((p) => committedAt[p] >= 0 && committedAt[p] < step && ids[p] !== pad && !spelled.has(p))
          .map((p) => ({ p, prob: tokenProbability(row(p), mask, ids[p]!) }));
        earlier.sort((a, b) => a.prob - b.prob);
        for (const { p } of earlier.slice(0, budget)) {
          ids[p] = mask;
          committedAt[p] = -1;
        }
      }
    }
    masked = spanPositions.filter((p) => ids[p] === mask);

    if (masked.length > 0 && Date.now() >= deadline) {
      // Out of time: finish every remaining mask greedily from this step's logits, as one final step
      // that commits them all, rather than return a half-decoded canvas.
      commitAll(masked.map((p) => [p, scans.get(p)?.token ?? startScan(row(p), mask).token] as const), step);
      masked = [];
      truncated = true;
    }
  }
  const spans = collect();
  return { spans, forwards: denoiser.forwards, tokens: spans.reduce((n, s) => n + s.length, 0), truncated, logProbs: logProb };
}
