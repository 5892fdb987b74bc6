// The context window policy: which text around a gap the model sees. A token budget is split between
// the text before and after the gap (prefixShare of it before, and whatever one side does not need
// goes to the other), and each side is cut at a line boundary so the model never sees half a line at
// the far edge. BOS/EOS mark the document's true start/end, exactly as training documents are packed.
import type { ContextOptions } from './api';
import type { TextCodec } from './codec';

export interface Side {
  ids: number[];
  /** True when the side holds all of its text (the prefix reaches the document start, the suffix its end). */
  complete: boolean;
}

/** Characters first looked at per budget token; grown when the text turns out to be denser. */
const CHARS_PER_TOKEN_GUESS = 8;

function lineStarts(text: string): number[] {
  const out: number[] = [];
  for (let i = text.indexOf('\n'); i !== -1 && i + 1 < text.length; i = text.indexOf('\n', i + 1)) out.push(i + 1);
  return out;
}

/**
 * Text that begins at the document's start is encoded as a document begins (a SentencePiece model saw
 * the dummy "▁" there in training, after BOS); text cut at a later line start is not.
 */
function encodeAt(codec: TextCodec, text: string, atDocumentStart: boolean): number[] {
  return Array.from(atDocumentStart && codec.encodeDocument ? codec.encodeDocument(text) : codec.encode(text));
}

/** The end of the text before the gap, at most `budget` tokens, starting at a line start. */
export function takePrefix(codec: TextCodec, text: string, budget: number): Side {
  if (text.length === 0) return { ids: [], complete: true };
  if (budget <= 0) return { ids: [], complete: false };
  let chars = budget * CHARS_PER_TOKEN_GUESS;
  for (;;) {
    const from = Math.max(0, text.length - chars);
    const window = text.slice(from);
    const ids = encodeAt(codec, window, from === 0);
    if (ids.length <= budget) {
      if (from === 0) return { ids, complete: true };
      chars *= 4;
      continue;
    }
    // Too long: keep the most lines (from the gap backwards) that fit. A window that does not start
    // at the document start begins mid-line, so its offset 0 is no candidate.
    const starts = lineStarts(window);
    if (from === 0) starts.unshift(0);
    return { ids: cutBackward(codec, window, starts, budget, ids), complete: false };
  }
}

function cutBackward(codec: TextCodec, window: string, starts: number[], budget: number, whole: number[]): number[] {
  // Per-line token counts, summed from the gap backwards, estimate where to cut; one encode of the kept
  // text confirms it (BPE may merge across a line break, so the estimate can be off by a token or two).
  let k = starts.length;
  let used = 0;
  let end = window.length;
  while (k > 0) {
    const n = codec.encode(window.slice(starts[k - 1]!, end)).length;
    if (used + n > budget) break;
    used += n;
    end = starts[--k]!;
  }
  for (; k < starts.length; k++) {
    // starts[k] is 0 only for a window that begins at the document's start.
    const ids = encodeAt(codec, window.slice(starts[k]!), starts[k] === 0);
    if (ids.length <= budget) return ids;
  }
  // Even the line holding the gap is longer than the budget: keep its last tokens.
  return whole.slice(whole.length - budget);
}

/** The start of the text after the gap, at most `budget` tokens, ending at a line end. */
export function takeSuffix(codec: TextCodec, text: string, budget: number): Side {
  if (text.length === 0) return { ids: [], complete: true };
  if (budget <= 0) return { ids: [], complete: false };
  let chars = budget * CHARS_PER_TOKEN_GUESS;
  for (;;) {
    const to = Math.min(text.length, chars);
    const window = text.slice(0, to);
    const ids = Array.from(codec.encode(window));
    if (ids.length <= budget) {
      if (to === text.length) return { ids, complete: true };
      chars *= 4;
      continue;
    }
    const ends = lineStarts(window); // a line ends where the next one starts
    if (to === text.length) ends.push(window.length);
    return { ids: cutForward(codec, window, ends, budget, ids), complete: false };
  }
}

function cutForward(codec: TextCodec, window: string, ends: number[], budget: number, whole: number[]): number[] {
  let k = 0;
  let used = 0;
  let start = 0;
  while (k < ends.length) {
    const n = codec.encode(window.slice(start, ends[k]!)).length;
    if (used + n > budget) break;
    used += n;
    start = ends[k++]!;
  }
  for (; k > 0; k--) {
    const ids = Array.from(codec.encode(window.slice(0, ends[k - 1]!)));
    if (ids.length <= budget) return ids;
  }
  return whole.slice(0, budget);
}

export interface Window {
  prefix: Side;
  suffix: Side;
}

/**
 * Splits `budget` text tokens between both sides: prefixShare of it before the gap, the rest after,
 * and a side that needs less than its share leaves the remainder to the other.
 */
export function takeWindow(codec: TextCodec, prefix: string, suffix: string, budget: number, options: ContextOptions): Window {
  const prefixBudget = Math.round(budget * options.prefixShare);
  let p = takePrefix(codec, prefix, prefixBudget);
  let s = takeSuffix(codec, suffix, budget - prefixBudget);
  if (p.complete && !s.complete && p.ids.length < prefixBudget) s = takeSuffix(codec, suffix, budget - p.ids.length);
  else if (s.complete && !p.complete && s.ids.length < budget - prefixBudget) p = takePrefix(codec, prefix, budget - s.ids.length);
  return { prefix: p, suffix: s };
}
