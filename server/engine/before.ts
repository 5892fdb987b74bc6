// Reverse-order completion: write what comes before an anchor given what follows it. A bidirectional
// model does this with the same infill canvas, placed right before the anchor; the answer is made
// to end with a line break so the anchor line stays a line of its own.
import type { BeforeRequest, InfillResult } from './api';
import { infill } from './infill';
import type { Model } from './model';
import { DEFAULT_MAX_TOKENS } from './options';

export async function before(model: Model, request: BeforeRequest): Promise<InfillResult> {
  const result = await infill(model, {
    prefix: request.prefix,
    suffix: request.suffix,
    maxTokens: request.maxTokens ?? DEFAULT_MAX_TOKENS.before,
    // The length rule is off unless asked for: it cut names short ("Bavrail P" for "Bavrail Pokus"),
    // and write-before is an explicit command (reverse recall of invented facts: 20% with the rule at
    // 0.2, 85% without).
    sampler: { ...request.sampler, lengthThreshold: request.sampler?.lengthThreshold ?? 0 },
    ...(request.context ? { context: request.context } : {}),
    ...(request.signal ? { signal: request.signal } : {}),
  });
  const atLineStart = request.prefix === '' || request.prefix.endsWith('\n');
  if (atLineStart && result.text !== '' && !result.text.endsWith('\n')) result.text += '\n';
  return result;
}
