// The tasks of a "diffill-arm" model: infill at a cursor and Fill Blanks, with the gap fitted exactly as
// on the diffusion path (gap.ts: token healing at the edges, the answer cut to the gap's scope).
//
// What a left-to-right model does differently (docs/architecture.md, "The autoregressive path"):
// - it decodes greedily, or samples with the temperature, top-k and seed given; the diffusion
//   sampler's other knobs (steps, threshold, guidance, order, blocks, re-masking, the length rule, the
//   cache switches) do not apply to it;
// - Fill Blanks with several blanks cannot be decoded jointly: the blanks are filled one at a time,
//   left to right, each seeing the fills before it and, after it, the text up to the next blank
//   (the blanks further on are not shown: a `___` in the prompt would be text to the model);
// - Write What Comes Before is the infill it already is (before.ts): the middle between the lines
//   above and the anchor line, which is what fill-in-the-middle training teaches.
import type { FillRequest, FillResult, InfillRequest, InfillResult, SamplerOptions } from './api';
import { armDecode, armPrompt } from './arm-decode';
import { checkMaxTokens } from './canvas';
import { RequestError } from './errors';
import { type PreparedGap, prepareGap } from './gap';
import type { Model } from './model';
import { DEFAULT_MAX_TOKENS, resolveContext, resolveFit, resolveSampler } from './options';

/** One gap decoded: the prompt's middle, fitted to the gap (healing, first-token bans, scope) as gap.ts says. */
function decodeGap(model: Model, prompt: Int32Array, gap: PreparedGap, n: number, sampler: SamplerOptions, signal?: AbortSignal): ReturnType<typeof armDecode> {
  return armDecode(model, prompt, {
    maxTokens: n,
    ...(gap.healed ? { healed: gap.healed } : {}),
    ...(gap.bannedFirst ? { bannedFirst: gap.bannedFirst } : {}),
    ...(gap.settled ? { settled: gap.settled } : {}),
    minTokens: sampler.minTokens,
    timeBudgetMs: sampler.timeBudgetMs,
    temperature: sampler.temperature,
    topK: sampler.topK,
    seed: sampler.seed,
    ...(signal ? { signal } : {}),
  });
}

export async function armInfill(model: Model, request: InfillRequest): Promise<InfillResult> {
  const started = performance.now();
  const sampler = resolveSampler(request.sampler);
  const fit = resolveFit(request.fit);
  const n = checkMaxTokens(request.maxTokens ?? DEFAULT_MAX_TOKENS.infill, 'maxTokens');
  const gap = prepareGap(model.tokenizer, model.config.vocabSize, request.prefix, request.suffix, fit);
  const prompt = armPrompt(model, gap.before, gap.after, n, resolveContext(request.context));
  const out = await decodeGap(model, prompt, gap, n, sampler, request.signal);
  return {
    text: gap.finish(out.ids, n),
    latencyMs: performance.now() - started,
    forwards: out.forwards,
    tokens: out.ids.length,
    truncated: out.ended === 'time',
  };
}

export async function armFill(model: Model, request: FillRequest): Promise<FillResult> {
  const started = performance.now();
  // A marked blank asks for text, as on the diffusion path (fill.ts).
  const sampler = resolveSampler({ ...request.sampler, minTokens: request.sampler?.minTokens ?? 1 });
  const fit = resolveFit(request.fit);
  const context = resolveContext(request.context);
  const n = checkMaxTokens(request.maxTokensPerBlank ?? DEFAULT_MAX_TOKENS.fillPerBlank, 'maxTokensPerBlank');
  const { text, blanks } = request;
  let at = 0;
  blanks.forEach(({ start, end }, k) => {
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < at || end < start || end > text.length) {
      throw new RequestError(`blank ${k} [${start}, ${end}) is out of order, overlapping or outside the text`);
    }
    at = end;
  });
  const fills: string[] = [];
  let done = ''; // the document up to the current blank, earlier blanks filled
  let forwards = 0;
  let tokens = 0;
  let truncated = false;
  for (let k = 0; k < blanks.length; k++) {
    const from = k === 0 ? 0 : blanks[k - 1]!.end;
    done += text.slice(from, blanks[k]!.start);
    const last = k === blanks.length - 1;
    const after = text.slice(blanks[k]!.end, last ? text.length : blanks[k + 1]!.start);
    const gap = prepareGap(model.tokenizer, model.config.vocabSize, done, after, fit, true);
    const prompt = armPrompt(model, gap.before, gap.after, n, context, last);
    const out = await decodeGap(model, prompt, gap, n, sampler, request.signal);
    const fill = gap.finish(out.ids, n);
    fills.push(fill);
    done += fill;
    forwards += out.forwards;
    tokens += out.ids.length;
    truncated ||= out.ended === 'time';
  }
  return { fills, latencyMs: performance.now() - started, forwards, tokens, truncated };
}
