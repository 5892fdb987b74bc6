// Variable-length infill: a canvas of masks between the text before and after the cursor; the model
// ends the answer early by committing [PAD] (broadcast to the right, then dropped).
import type { InfillRequest, InfillResult } from './api';
import { buildCanvas, checkMaxTokens } from './canvas';
import type { Model } from './model';
import { DEFAULT_MAX_TOKENS, resolveContext, resolveSampler } from './options';
import { sample } from './sampler';

export async function infill(model: Model, request: InfillRequest): Promise<InfillResult> {
  const started = performance.now();
  const sampler = resolveSampler(request.sampler);
  const n = checkMaxTokens(request.maxTokens ?? DEFAULT_MAX_TOKENS.infill, 'maxTokens');
  const canvas = buildCanvas(model, [request.prefix, request.suffix], [n], resolveContext(request.context));
  const out = await sample(model, canvas, sampler, request.signal);
  return {
    text: model.tokenizer.decode(out.spans[0]!),
    latencyMs: performance.now() - started,
    forwards: out.forwards,
    tokens: out.tokens,
    truncated: out.truncated,
  };
}
