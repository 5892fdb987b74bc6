// Variable-length infill: a canvas of masks between the text before and after the cursor; the model
// ends the answer early by committing [PAD] (broadcast to the right, then dropped).
import type { InfillRequest, InfillResult } from './api';
import { answerAfterMove, banLoneSpace, moveSpaceIntoGap } from './boundary';
import { buildCanvas, checkMaxTokens } from './canvas';
import type { Model } from './model';
import { DEFAULT_MAX_TOKENS, resolveContext, resolveSampler } from './options';
import { sample } from './sampler';

export async function infill(model: Model, request: InfillRequest): Promise<InfillResult> {
  const started = performance.now();
  const sampler = resolveSampler(request.sampler);
  const n = checkMaxTokens(request.maxTokens ?? DEFAULT_MAX_TOKENS.infill, 'maxTokens');
  const start = moveSpaceIntoGap(request.prefix);
  const canvas = banLoneSpace(model.tokenizer, model.config.vocabSize, buildCanvas(model, [start.text, request.suffix], [n], resolveContext(request.context)), [start.moved]);
  const out = await sample(model, canvas, sampler, request.signal);
  return {
    text: answerAfterMove(model.tokenizer.decode(out.spans[0]!), start.moved),
    latencyMs: performance.now() - started,
    forwards: out.forwards,
    tokens: out.tokens,
    truncated: out.truncated,
  };
}
