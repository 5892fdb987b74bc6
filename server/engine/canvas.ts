// Builds the token canvas of a request: context ids around one or more runs of [MASK], with BOS/EOS
// where the context reaches the document's start/end, within the model's max_position.
import type { ContextOptions } from './api';
import type { Canvas, Span } from './sampler';
import { takePrefix, takeSuffix, takeWindow } from './context';
import { RequestError } from './errors';
import { FIXED_CANVAS } from './options';
import type { Model } from './model';
import { maskId } from './config';

export function checkMaxTokens(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new RequestError(`${name} must be a positive integer (got ${String(value)})`);
  return value;
}

/**
 * The canvas size of a gap whose answer may have up to `maxTokens` tokens. With an end token (length
 * rules "pad" and "eos") that is the canvas: the model ends the answer earlier by itself. Under "fixed"
 * every position becomes a token, so the canvas is the answer's length: one line's worth
 * (FIXED_CANVAS, options.ts), within maxTokens.
 */
export function gapCanvasLength(model: Model, maxTokens: number): number {
  return model.config.lengthRule === 'fixed' ? Math.min(maxTokens, FIXED_CANVAS.line) : maxTokens;
}

/**
 * `texts` are the pieces around the gaps: texts[0] before the first gap, texts[k] between gap k-1 and
 * gap k, texts[n] after the last one; `lengths[k]` is the canvas size of gap k. Text between gaps is
 * kept whole (the gaps are filled jointly, so it is part of the question); the outer pieces share
 * what is left of the context budget.
 */
export function buildCanvas(model: Model, texts: readonly string[], lengths: readonly number[], context: ContextOptions): Canvas {
  if (texts.length !== lengths.length + 1 || lengths.length === 0) throw new Error('buildCanvas: need one more text than gaps');
  const { special, maxPosition } = model.config;
  const mask = maskId(model.config);
  const codec = model.tokenizer;
  const inner = texts.slice(1, -1).map((t) => Array.from(codec.encode(t)));
  const fixed = lengths.reduce((a, b) => a + b, 0) + inner.reduce((a, ids) => a + ids.length, 0);
  const room = maxPosition - (special.bos === null ? 1 : 2) - fixed; // BOS (when the model has one) and EOS
  if (room < 0) {
    throw new RequestError(`the gaps and the text between them need ${fixed} tokens; the model reads at most ${maxPosition - 2}`);
  }
  const budget = Math.min(context.maxContextTokens, room);
  const first = texts[0]!;
  const last = texts[texts.length - 1]!;
  const { prefix, suffix } =
    lengths.length === 1
      ? takeWindow(codec, first, last, budget, context)
      : (() => {
          const share = Math.round(budget * context.prefixShare);
          const p = takePrefix(codec, first, share);
          return { prefix: p, suffix: takeSuffix(codec, last, budget - p.ids.length) };
        })();
  const ids: number[] = [];
  // A model without BOS (bos: null) sees a complete prefix as just its text.
  if (prefix.complete && special.bos !== null) ids.push(special.bos);
  ids.push(...prefix.ids);
  const spans: Span[] = [];
  lengths.forEach((n, k) => {
    spans.push({ start: ids.length, length: n });
    for (let i = 0; i < n; i++) ids.push(mask);
    if (k < inner.length) ids.push(...inner[k]!);
  });
  ids.push(...suffix.ids);
  if (suffix.complete) ids.push(special.eos);
  return { ids: Int32Array.from(ids), spans };
}
