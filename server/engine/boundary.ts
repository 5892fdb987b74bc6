// Token boundary at the start of a gap. The tokenizer gives a word its leading space (" The", " x"),
// so in training a space before a word always belongs to the word's token. Text that ends in a space
// right before the gap (the cursor after "return ", a blank after "author of ") would end in a lone
// space token instead, which the model has rarely seen before a word, and the gap would have to start
// with a word without its space: answers then skip a word or repeat the space. The space is therefore
// moved into the gap, and taken off the answer again when the answer starts with it (the document
// already has it).
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
