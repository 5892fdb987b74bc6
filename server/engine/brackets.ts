// Bracket balance of answers: how deep a piece of text leaves its brackets, how many brackets an
// answer should open or close where it stands (its statement balances), and the cuts that make a
// one-line answer or a blank's fragment keep that balance. Pure string functions, used by scope.ts.

export const OPENERS = '([{';
export const CLOSERS = ')]}';

/**
 * Bracket depth change of `text`, brackets in simple quotes ignored; the lowest depth reached and where;
 * the quote left open; and, when the depth falls below `stopBelow`, the closer where it did (`stoppedAt`).
 */
export function depthOf(text: string, stopBelow = -Infinity): { net: number; low: number; lowAt: number; quote: string; stoppedAt: number } {
  let d = 0;
  let low = 0;
  let lowAt = -1;
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote !== '') {
      if (c === '\\') i++;
      else if (c === quote) quote = '';
      continue;
    }
    if (c === '"' || c === "'" || c === '`') quote = c;
    else if (OPENERS.includes(c)) d++;
    else if (CLOSERS.includes(c)) {
      d--;
      if (d < stopBelow) return { net: d, low: d, lowAt: i, quote, stoppedAt: i };
      if (d < low) {
        low = d;
        lowAt = i;
      }
    }
  }
  return { net: d, low, lowAt, quote, stoppedAt: -1 };
}

/**
 * Bracket count of `text` for the balance rule: quotes end at their line's end (an apostrophe in a
 * comment or prose must not hide the rest of the file), except template literals.
 */
function bracketNet(text: string): number {
  let d = 0;
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote !== '') {
      if (c === '\\') i++;
      else if (c === quote || (c === '\n' && quote !== '`')) quote = '';
      continue;
    }
    if (c === '"' || c === "'" || c === '`') quote = c;
    else if (OPENERS.includes(c)) d++;
    else if (CLOSERS.includes(c)) d--;
  }
  return d;
}

/** A line that starts a top-level statement: not indented, not a closer (brackets balance between two). */
function startsStatement(line: string): boolean {
  return line.length > 0 && !/^\s/.test(line) && !CLOSERS.includes(line[0]!);
}

const BALANCE_WINDOW_LINES = 400;

/**
 * The brackets the gap's answer should open (positive) or close (negative): the top-level statement
 * around the gap (from the last unindented line before it to the next one after its line) balances,
 * so what the text around the gap leaves open or closes in excess is the answer's share. null where
 * that cannot be told: nothing after the gap (the statement is unfinished), or no statement start
 * within reach. On held-out code this predicts the deleted text's own balance for 94-99% of gaps.
 */
export function expectedBrackets(before: string, after: string): number | null {
  if (after.trim() === '') return null;
  const head = before.split('\n');
  // The cursor's own line counts when it starts a statement; the document's start is one too.
  let i = head.length - 1;
  const stop = Math.max(0, head.length - 1 - BALANCE_WINDOW_LINES);
  while (i >= stop && !startsStatement(head[i]!)) i--;
  if (i < stop) {
    if (stop > 0) return null;
    i = 0;
  }
  const tail = after.split('\n', BALANCE_WINDOW_LINES + 1);
  let j = 1;
  while (j < tail.length && !startsStatement(tail[j]!)) j++;
  if (j >= tail.length && tail.length > BALANCE_WINDOW_LINES) return null;
  const around = bracketNet(head.slice(i).join('\n')) + bracketNet(tail.slice(0, j).join('\n'));
  return around === 0 ? 0 : -around;
}

/**
 * One line of answer that would leave its statement's brackets unbalanced is cut to fit: an answer
 * that opens more than its share is cut back to where it matched it ("ers_list = [" before
 * "eInsensitiveDict(...)" -> "ers_list = "); one that closes more than its share stops before the
 * extra closer (a lone "}" in the middle of a block goes). A cut answer may end up empty: no
 * suggestion rather than one that breaks the file. Answers inside an open quote are left alone.
 */
export function fitBrackets(answer: string, before: string, after: string): string {
  if (answer === '' || answer.includes('\n')) return answer;
  const expected = expectedBrackets(before, after);
  if (expected === null) return answer;
  const d = depthOf(answer);
  if (d.quote !== '' || d.net === expected) return answer;
  if (d.net > expected) {
    for (let i = answer.length - 1; i >= 0; i--) {
      const h = depthOf(answer.slice(0, i));
      if (h.net === expected && h.quote === '') return answer.slice(0, i).replace(/[ \t]+$/, '');
    }
    return answer;
  }
  const cut = depthOf(answer, Math.min(0, expected)).stoppedAt;
  return cut >= 0 ? answer.slice(0, cut).replace(/[ \t]+$/, '') : answer;
}

/**
 * A line fragment closes what it opens: a fill that ends with one bracket left open gets its closer
 * ("Outside(" -> "Outside()"); one left open earlier is cut back to where it was last balanced.
 */
export function balanceFragment(text: string): string {
  const d = depthOf(text);
  if (d.quote !== '' || d.low < 0 || d.net <= 0) return text;
  const last = text.trimEnd().slice(-1);
  if (d.net === 1 && OPENERS.includes(last)) return text.trimEnd() + CLOSERS[OPENERS.indexOf(last)]!;
  for (let i = text.length - 1; i > 0; i--) {
    const head = depthOf(text.slice(0, i));
    if (head.net === 0 && head.low === 0 && head.quote === '' && text.slice(0, i).trim() !== '') return text.slice(0, i).trimEnd();
  }
  return text;
}
