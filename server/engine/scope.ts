// The answer's scope: where an infill answer should stop, decided from where the gap sits in its line.
// A small model rarely ends an answer on its own at the right place (its [PAD] is weak), so the answer
// is cut at the natural boundary of the gap, as editor assistants do after their models:
// - code after the cursor on its line: the rest of this line only (and no closing bracket the rest
//   of the line already brings);
// - a cursor at a line start with code after it: whole lines (the caller adds the final line break);
// - the end of a line: that line, and the lines of a block only when the line opens one that the text
//   after it does not already have;
// - a blank line: lines down to the first one that leaves the cursor's block;
// a one-line answer that would leave its statement's brackets unbalanced is cut to fit (brackets.ts);
// everywhere: trailing lines that repeat the text after the gap, a runaway repeat ("total, total,
// total"), and a last line cut off by the end of the canvas are dropped.
// Pure string functions; the language server's post-processing uses the same repeat rule.

import { balanceFragment, CLOSERS, depthOf, fitBrackets } from './brackets';

export interface ScopeInput {
  /** The answer as it would go into the document (healed text already taken off). */
  answer: string;
  /** The document text before the gap (its tail is what matters). */
  before: string;
  /** The document text after the gap. */
  after: string;
  /** True when the answer used every position of its canvas (no [PAD]): its end may be cut off. */
  filled: boolean;
  /** The gap is a piece of a line (a blank marked inside a line): one balanced line fragment. */
  fragment?: boolean;
}

/** True when a gap shares its line with other text on either side. */
export function isFragment(before: string, after: string): boolean {
  return (lineOf(before, true) + lineOf(after, false)).trim() !== '';
}


function lineOf(text: string, fromEnd: boolean): string {
  if (fromEnd) return text.slice(text.lastIndexOf('\n') + 1);
  const nl = text.indexOf('\n');
  return nl < 0 ? text : text.slice(0, nl);
}

function indentOf(line: string): number {
  return line.length - line.trimStart().length;
}

/** Lines after the first line of `text`, blank ones skipped, trimmed, at most `limit`. */
function linesAfterFirst(text: string, limit: number): string[] {
  const nl = text.indexOf('\n');
  if (nl < 0) return [];
  return nonBlankLines(text.slice(nl + 1), limit);
}

function nonBlankLines(text: string, limit: number): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t === '') continue;
    out.push(t);
    if (out.length >= limit) break;
  }
  return out;
}

/**
 * Drops trailing lines of `text` that repeat the lines `following` (trimmed, blank lines ignored): the
 * model filled the gap and went on to rewrite what is already there. The repeat must run to the end.
 */
export function dropRepeatedTail(text: string, following: readonly string[]): string {
  if (following.length === 0) return text;
  const lines = text.split('\n');
  for (let start = 1; start < lines.length; start++) {
    const tail = lines.slice(start).map((l) => l.trim()).filter((l) => l.length > 0);
    if (tail.length === 0 || tail.length > following.length) continue;
    if (tail.every((l, i) => l === following[i])) return lines.slice(0, start).join('\n');
  }
  return text;
}

/** The lines after the cursor's line, trimmed and non-blank, for dropRepeatedTail. */
export function followingLines(after: string, limit: number): string[] {
  return linesAfterFirst(after, limit);
}

/**
 * Cuts a runaway repeat: a unit of 2-40 characters with a letter or digit in it, written three or more
 * times in a row, that the surrounding text does not repeat itself. The first copy stays.
 */
export function cutRunaway(text: string, context: string): string {
  const m = /([^]{2,40}?)\1{2,}/.exec(text);
  if (m === null || !/[\p{L}\p{N}]/u.test(m[1]!)) return text;
  if (context.includes(m[1]!.repeat(3))) return text;
  return text.slice(0, m.index + m[1]!.length);
}

/**
 * Cuts an answer at its first line that repeats an earlier line of the same answer ("print(add(a, b))"
 * twice): a small model that does not know what comes next writes what it just wrote. Short lines
 * (closing brackets, `pass`, `else:`) repeat legitimately and do not count.
 */
export function cutRepeatedLine(text: string): string {
  const lines = text.split('\n');
  const seen = new Set<string>();
  for (let i = 0; i < lines.length; i++) {
    const t = lines[i]!.trim();
    if (t.length < 6) continue;
    if (seen.has(t)) return lines.slice(0, i).join('\n');
    seen.add(t);
  }
  return text;
}

/** A line (code) that opens a block its following lines should fill. */
function opensBlock(line: string): boolean {
  const t = line.replace(/\s+(#|\/\/).*$/, '').trimEnd();
  return /[:{([]$|=>$/.test(t);
}

/** Index of the first `q` in `text` not escaped by a backslash, or -1. */
function unescapedIndex(text: string, q: string): number {
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === q) return i;
  }
  return -1;
}

/** True when `rest` (text inside a string opened by `q`) closes that string. */
function quoteCloses(rest: string, q: string): boolean {
  return unescapedIndex(rest, q) >= 0;
}

/** Mid-line: the rest of this line only, without a closer the rest of the line already brings. */
function scopeMidLine(answer: string, before: string, after: string): string {
  let text = answer;
  const nl = text.indexOf('\n');
  if (nl >= 0) text = text.slice(0, nl);
  // An answer that ends by writing what the line goes on with ("ImportError:" before ":", "items"
  // through the cut before "ems)") wrote it twice. Inside a word only a repeat of 2+ characters counts,
  // and the answer keeps at least one character.
  const rest0 = lineOf(after, false);
  const minK = /^[\p{L}\p{N}_]/u.test(rest0) ? 2 : 1;
  for (let k = Math.min(text.length - 1, rest0.length); k >= minK; k--) {
    if (text.endsWith(rest0.slice(0, k))) {
      text = text.slice(0, text.length - k);
      break;
    }
  }
  // Inside a string that the rest of the line closes: the answer stays inside it (a quote it writes
  // would close the string early and open the rest of the line as a new one).
  const q = depthOf(lineOf(before, true)).quote;
  if (q !== '' && quoteCloses(rest0, q)) {
    const at = unescapedIndex(text, q);
    if (at >= 0) text = text.slice(0, at);
  }
  // Brackets: the line before the cursor leaves `open` open and the rest of the line closes `-low` of
  // them; the answer may close only the difference beyond what it opens itself.
  const open = Math.max(0, depthOf(lineOf(before, true)).net);
  const rest = depthOf(lineOf(after, false));
  const allowed = Math.max(0, open + rest.low);
  const cut = depthOf(text, -allowed).stoppedAt;
  if (cut >= 0) text = text.slice(0, cut);
  return text;
}

/**
 * True when scopeAnswer's result no longer depends on anything after the first line break of
 * `answer`: a mid-line gap (or a blank's fragment) keeps only the text before it; an end of a line
 * and a blank line keep one line unless that line opens a block. The sampler stops decoding there
 * (Span.settled). A cursor at a line start in front of code writes whole lines: never settled early.
 */
export function answerSettled(input: Omit<ScopeInput, 'filled'>): boolean {
  const { before, after } = input;
  const text = input.answer.replace(/\r\n?/g, '\n');
  const restOfLine = lineOf(after, false);
  const atLineStart = before === '' || before.endsWith('\n');
  if (input.fragment === true || (restOfLine.trim() !== '' && !atLineStart)) return text.includes('\n');
  if (restOfLine.trim() !== '') return false;
  const lineBefore = lineOf(before, true);
  const body = lineBefore.trim() !== '' ? text : text.replace(/^\n+/, '');
  const nl = body.indexOf('\n');
  if (nl < 0) return false;
  return !opensBlock(lineBefore.trim() !== '' ? lineBefore + body.slice(0, nl) : body.slice(0, nl));
}

/** Keeps the lines of `lines` (after the first) while they stay inside the block deeper than `base`. */
function keepBlock(lines: string[], base: number): string[] {
  const out = [lines[0]!];
  for (const line of lines.slice(1)) {
    if (line.trim() === '') {
      out.push(line);
      continue;
    }
    const ind = indentOf(line);
    if (ind > base) {
      out.push(line);
      continue;
    }
    // A closing bracket at the block's own level ends it and belongs to it.
    if (ind === base && CLOSERS.includes(line.trim()[0]!)) out.push(line);
    break;
  }
  while (out.length > 1 && out[out.length - 1]!.trim() === '') out.pop();
  return out;
}

export function scopeAnswer(input: ScopeInput): string {
  const text = scopeLines(input);
  return input.fragment === true ? text : fitBrackets(text, input.before, input.after);
}

/** Where the answer stops, by the gap's place in its line (see the top of this file). */
function scopeLines(input: ScopeInput): string {
  const { before, after, filled } = input;
  let text = input.answer.replace(/\r\n?/g, '\n');
  text = cutRepeatedLine(cutRunaway(text, before.slice(-4000) + after.slice(0, 4000)));
  const lineBefore = lineOf(before, true);
  const restOfLine = lineOf(after, false);
  const atLineStart = before === '' || before.endsWith('\n');

  if (input.fragment === true) return balanceFragment(scopeMidLine(text, before, after));
  if (restOfLine.trim() !== '' && !atLineStart) return scopeMidLine(text, before, after);

  if (restOfLine.trim() !== '') {
    // Whole lines before an existing line: they stop where they reach that line again (the model goes
    // on to rewrite what follows) and where they leave the block they started in.
    const next = restOfLine.trim();
    // A blank line in front of the new lines is the model's, not the user's: the cursor already
    // stands at a line start.
    let lines = text.replace(/^\n+/, '').replace(/\n+$/, '').split('\n');
    const again = lines.findIndex((l, i) => i > 0 && l.trim() === next);
    if (again > 0) lines = lines.slice(0, again);
    else if (filled && lines.length > 1) lines = lines.slice(0, -1);
    const first = lines.find((l) => l.trim() !== '');
    if (first !== undefined) lines = keepBlock(lines, indentOf(first) - 1);
    return lines.join('\n').replace(/\s+$/, '');
  }

  // The cursor's line has nothing after the cursor: end of a line, or a blank line.
  const lines = text.split('\n');
  const following = linesAfterFirst(after, 64);
  if (lineBefore.trim() !== '') {
    const line = lineBefore + lines[0]!;
    const nextLine = nonBlankLines(after.slice(after.indexOf('\n') + 1), 1)[0];
    const nextIndent = nextLine === undefined ? -1 : indentOf(after.slice(after.indexOf('\n') + 1).split('\n').find((l) => l.trim() !== '')!);
    const bodyMissing = after.indexOf('\n') < 0 || nextIndent <= indentOf(line);
    if (lines.length === 1 || !(opensBlock(line) && bodyMissing)) return lines[0]!;
    let kept = keepBlock(lines, indentOf(line));
    if (filled && kept.length > 1 && kept.length === lines.length) kept = kept.slice(0, -1);
    return dropRepeatedTail(kept.join('\n'), following);
  }
  // A blank line: one line, or the block it opens (as at the end of a line), within the cursor's block.
  // Line breaks in front of it would only push it down: the cursor's line is already free.
  if (lineBefore.trim() === '' && /^\n/.test(text)) {
    const lead = text.length - text.replace(/^\n+/, '').length;
    text = text.slice(lead);
    lines.splice(0, lead);
  }
  const base = lineBefore.length + indentOf(lines[0]!);
  if (lines.length === 1 || !opensBlock(lines[0]!)) return lines[0]!.replace(/\s+$/, '');
  let kept = keepBlock(lines, base);
  if (filled && kept.length > 1 && kept.length === lines.length) kept = kept.slice(0, -1);
  return dropRepeatedTail(kept.join('\n'), following).replace(/\s+$/, '');
}

/**
 * True when a fill for a gap inside a line stands on its own: it closes every bracket it opens, never
 * closes one it did not open, and leaves no quote open. An identifier, a call's arguments or an
 * expression written into a line always does; an answer that does not breaks the line around it.
 * Gaps that are not inside a line are not judged here.
 */
export function fitsItsLine(answer: string, before: string, after: string): boolean {
  if (!isFragment(before, after)) return true;
  if (answer.includes('\n')) return false;
  const d = depthOf(answer);
  // A comment opened inside a line would swallow the rest of it.
  const unquoted = answer.replace(/(["'`])(?:\\.|(?!\1).)*\1/g, '');
  return d.net === 0 && d.low === 0 && d.quote === '' && !/#|\/\/|\/\*/.test(unquoted);
}
