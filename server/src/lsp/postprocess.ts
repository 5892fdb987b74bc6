// Turns the model's raw infill text into what an inline completion should show. Pure functions
// only: the golden-file tests in test/unit/postprocess-golden.test.ts pin every rule.
//
// Rules, in order:
// 1. Line mode by context: a cursor with code after it on the same line gets one line only;
//    otherwise several lines are allowed (trailing blank lines dropped).
// 2. Text that repeats what follows the cursor is dropped: trailing lines equal to the lines
//    after the cursor, and in single-line mode an ending that repeats the start of the rest of
//    the line.
// 3. Auto-closed brackets/quotes: when the rest of the line is only closers (`)`, `"]`, `});`)
//    and the completion writes them itself, the item's range covers them so accepting replaces
//    them instead of leaving `))`.

import { dropRepeatedTail, followingLines } from '../../engine/scope';

export interface PostprocessInput {
  /** Raw text from the model for the gap at the cursor. */
  completion: string;
  /** Document text before the cursor (only its tail matters). */
  prefix: string;
  /** Document text after the cursor. */
  suffix: string;
}

export interface InlineInsert {
  /** Text to insert at the cursor. */
  insertText: string;
  /** Characters after the cursor (same line) that the insert replaces. */
  replaceChars: number;
}

const CLOSERS = new Set([')', ']', '}', '"', "'", '`', ';', ',', '>']);

/** The part of the current line after the cursor. */
function restOfLine(suffix: string): string {
  const nl = suffix.indexOf('\n');
  return nl < 0 ? suffix : suffix.slice(0, nl);
}

/** True when the cursor has non-blank text after it on its line. */
export function isMidLine(suffix: string): boolean {
  return restOfLine(suffix).trim().length > 0;
}

/** Longest k >= 1 such that `text` ends with the first k characters of `rest`, else 0. */
function overlapWithRest(text: string, rest: string): number {
  for (let k = Math.min(text.length, rest.length); k >= 1; k--) {
    if (text.endsWith(rest.slice(0, k))) return k;
  }
  return 0;
}

/** True when `needle`'s characters occur in `hay` in order, the last one at the end of `hay`. */
function endsWithSubsequence(hay: string, needle: string): boolean {
  if (needle.length === 0) return false;
  let j = needle.length - 1;
  if (hay[hay.length - 1] !== needle[j]) return false;
  for (let i = hay.length - 1; i >= 0 && j >= 0; i--) {
    if (hay[i] === needle[j]) j--;
  }
  return j < 0;
}

export function postprocess(input: PostprocessInput): InlineInsert | null {
  const { prefix, suffix } = input;
  let text = input.completion.replace(/\r\n?/g, '\n');
  const rest = restOfLine(suffix);
  const midLine = isMidLine(suffix);
  const lineBefore = prefix.slice(prefix.lastIndexOf('\n') + 1);

  // A cursor at the end of a non-blank line: a completion starting with a line break writes the
  // next line, which is fine; but leading blank lines beyond the first only add noise.
  text = text.replace(/^\n{2,}/, '\n');

  if (midLine) {
    // Skip a leading line break: mid-line, only the rest of this line can be shown.
    const firstBreak = text.indexOf('\n');
    text = firstBreak < 0 ? text : text.slice(0, firstBreak);
  } else {
    text = dropRepeatedTail(text, followingLines(suffix, text.split('\n').length));
    text = text.replace(/[ \t]+$/gm, '').replace(/\n+$/, '');
  }
  if (lineBefore.trim().length === 0 && !midLine) {
    // At an indented blank position the model often repeats the indentation already typed.
    const indent = lineBefore;
    if (indent.length > 0 && text.startsWith(indent) && text.slice(indent.length).trim().length > 0) {
      text = text.slice(indent.length);
    }
  }
  if (text.trim().length === 0) return null;

  let replaceChars = 0;
  const restTrimmed = rest.trimEnd();
  if (midLine && [...restTrimmed].every((c) => CLOSERS.has(c))) {
    // Rest of line is only auto-inserted closers: if the completion writes them too, replace.
    const body = text.trimEnd();
    if (endsWithSubsequence(body, restTrimmed.replace(/\s+/g, ''))) {
      text = body;
      replaceChars = restTrimmed.length;
    } else {
      const k = overlapWithRest(text, rest);
      text = text.slice(0, text.length - k);
    }
  } else if (midLine) {
    const k = overlapWithRest(text, rest);
    text = text.slice(0, text.length - k);
    // The rest of the line already brings its own leading space.
    if (/^\s/.test(rest)) text = text.trimEnd();
  }
  if (text.trim().length === 0 && replaceChars === 0) return null;
  return { insertText: text, replaceChars };
}
