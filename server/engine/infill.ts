// Variable-length infill: a canvas of masks between the text before and after the cursor; the model
// ends the answer early by committing its end token ([PAD], or EOS under the "eos" length rule;
// broadcast to the right, then dropped). Under the "fixed" rule the canvas is the answer's length
// (canvas.ts gapCanvasLength). gap.ts fits the gap's edges to the tokenizer and the answer to the
// gap's scope.
import type { InfillRequest, InfillResult } from './api';
import { armInfill } from './arm-tasks';
import { buildCanvas, checkMaxTokens, gapCanvasLength } from './canvas';
import { prepareGap } from './gap';
import type { Model } from './model';
import { DEFAULT_MAX_TOKENS, resolveContext, resolveFit, resolveSampler } from './options';
import { sample } from './sampler';

export async function infill(model: Model, request: InfillRequest): Promise<InfillResult> {
  // A causal fill-in-the-middle model decodes left to right instead (arm-decode.ts).
  if (model.config.format === 'diffill-arm') return armInfill(model, request);
  const started = performance.now();
  const sampler = resolveSampler(request.sampler);
  const fit = resolveFit(request.fit);
  const n = gapCanvasLength(model, checkMaxTokens(request.maxTokens ?? DEFAULT_MAX_TOKENS.infill, 'maxTokens'));
  const fixed = model.config.lengthRule === 'fixed';
  const gap = prepareGap(model.tokenizer, model.config.vocabSize, request.prefix, request.suffix, fit);
  const built = buildCanvas(model, [gap.before, gap.after], [n], resolveContext(request.context));
  const canvas = { ...built, spans: [{ ...built.spans[0]!, ...(gap.healed ? { healed: gap.healed } : {}), ...(gap.bannedFirst ? { bannedFirst: gap.bannedFirst } : {}), ...(gap.settled ? { settled: gap.settled } : {}) }] };
  const out = await sample(model, canvas, sampler, request.signal);
  return {
    text: gap.finish(out.spans[0]!, fixed ? null : n),
    latencyMs: performance.now() - started,
    forwards: out.forwards,
    tokens: out.tokens,
    truncated: out.truncated,
  };
}
