// One gap of a request, from the document's text around it to the answer that goes into the document:
// the edges are healed (heal.ts) or, with healing off, a trailing space moves into the gap (boundary.ts);
// the decoded span is given back its edges and cut to the gap's scope (scope.ts). infill.ts and fill.ts
// share it, so every gap of Fill Blanks is treated like the cursor's gap of ghost text.
import type { FitOptions } from './api';
import { answerAfterMove, moveSpaceIntoGap, spaceOnlyTokens } from './boundary';
import type { TextCodec } from './codec';
import { canHeal, healGap, insertsLines, spanBytes, stripHealed } from './heal';
import { answerSettled, isFragment, scopeAnswer } from './scope';

export interface PreparedGap {
  /** Text before the gap as the canvas holds it. */
  before: string;
  /** Text after the gap as the canvas holds it. */
  after: string;
  /** What the span's first tokens must spell out (healing). */
  healed?: Uint8Array;
  /** Tokens the span's first position may not take (the moved space, healing off). */
  bannedFirst?: readonly number[];
  /**
   * Turns the span's ids into the text inserted into the document. `canvasLength` null: a fixed-length
   * canvas (no end token), whose answer was written to fit it: filling it cuts nothing off.
   */
  finish(ids: readonly number[], canvasLength: number | null): string;
  /** With the answer's scope on: whether the span's leading ids already settle its text (Span.settled). */
  settled?: (ids: readonly number[]) => boolean;
}

/**
 * `before` / `after`: the document's text on either side of the gap (for a gap between blanks, the
 * text up to the neighbouring blank). `blank`: a gap the user marked (Fill Blanks) rather than a cursor.
 */
export function prepareGap(codec: TextCodec, vocabSize: number, before: string, after: string, fit: FitOptions, blank = false): PreparedGap {
  // A blank marked inside a line is a piece of that line; a cursor at a line start with code after it
  // on its line writes whole lines, ending with a line break.
  const fragment = blank && isFragment(before, after);
  const lines = !fragment && insertsLines(before, after);
  const shape = (answer: string, filled: boolean): string => {
    if (!fit.scope) return answer;
    const text = scopeAnswer({ answer, before, after, filled, fragment });
    return lines && text.trim() !== '' ? text + '\n' : text;
  };
  if (fit.heal && canHeal(codec)) {
    const edges = healGap(codec, before, after, fragment);
    return {
      before: edges.before,
      after: edges.after,
      healed: edges.removed,
      ...(fit.scope ? { settled: (ids: readonly number[]) => answerSettled({ answer: stripHealed(spanBytes(codec, ids), edges.removed), before, after, fragment }) } : {}),
      finish(ids, n) {
        const answer = stripHealed(spanBytes(codec, ids), edges.removed);
        if (fit.scope) return shape(answer, n !== null && ids.length >= n);
        return answer !== '' ? answer + edges.borrowed : answer;
      },
    };
  }
  const start = moveSpaceIntoGap(before);
  return {
    before: start.text,
    after,
    ...(start.moved === ' ' ? { bannedFirst: spaceOnlyTokens(codec, vocabSize) } : {}),
    ...(fit.scope ? { settled: (ids: readonly number[]) => answerSettled({ answer: answerAfterMove(codec.decode(ids), start.moved), before, after, fragment }) } : {}),
    finish: (ids, n) => shape(answerAfterMove(codec.decode(ids), start.moved), n !== null && ids.length >= n),
  };
}
