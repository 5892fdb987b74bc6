import type { TextCodec } from './codec';
import type { Span } from './sampler';

// Token boundary at the start of a gap. The tokenizer gives a word its leading space (" The", " x"),
// so in training a space before a word always belongs to the word's token. Text that ends in a space
// right before the gap (the cursor after "return ", a blank after "author of ") would end in a lone
// space token instead, which the model has rarely seen before a word, and the gap would have to start
// with a word without its space: answers then skip a word or repeat the space. The space is therefore
// moved into the gap, and taken off the answer again when the answer starts with it (the document
// already has it).
//
// The gap's first token may then not be a token of only spaces or tabs: that would write a second space
// after the document's, or, once taken off, nothing but blanks where a blank asked for text.
//
// Only one U+0020 moves: the pre-tokenizer attaches at most one space to a word, and a line break
// token already carries the indentation that follows it, so spaces after a line break stay put.

export interface GapStart {
  /** The text before the gap, without the moved space. */
  text: string;
  /** What was moved into the gap: '' or ' '. */
  moved: string;
}

export function moveSpaceIntoGap(before: string): GapStart {
  if (!before.endsWith(' ')) return { text: before, moved: '' };
  // Spaces that follow a line break (indentation) are part of the line break's token.
  const run = before.length - before.trimEnd().length;
  const tail = before.slice(before.length - run);
  if (/[\r\n]/.test(tail)) return { text: before, moved: '' };
  return { text: before.slice(0, -1), moved: ' ' };
}

/** The answer as it goes into the document, whose text before the gap still ends with `moved`. */
export function answerAfterMove(answer: string, moved: string): string {
  return moved !== '' && answer.startsWith(moved) ? answer.slice(moved.length) : answer;
}

const blankIds = new WeakMap<TextCodec, number[]>();

/** Ids of the tokens that are only spaces and tabs (" ", "  ", "\t", ...), found once per tokenizer. */
export function spaceOnlyTokens(codec: TextCodec, vocabSize: number): number[] {
  let ids = blankIds.get(codec);
  if (!ids) {
    ids = [];
    for (let id = 0; id < vocabSize; id++) if (/^[ \t]+$/.test(codec.decode([id]))) ids.push(id);
    blankIds.set(codec, ids);
  }
  return ids;
}

/**
 * The spans of `canvas` whose text before gave its space to them may not open with a token of only
 * spaces or tabs: after the document's space that is a double space, or (once the space is taken off)
 * an answer of nothing but blanks where a blank asked for text.
 */
export function banLoneSpace<C extends { spans: readonly Span[] }>(codec: TextCodec, vocabSize: number, canvas: C, moved: readonly string[]): C {
  if (!moved.includes(' ')) return canvas;
  const banned = spaceOnlyTokens(codec, vocabSize);
  return { ...canvas, spans: canvas.spans.map((s, k) => (moved[k] === ' ' ? { ...s, bannedFirst: banned } : s)) };
}
