// Where "fill blanks" writes: explicit ranges from the editor (selections, multi-cursor positions),
// or by default every run of three or more underscores.
import type { Range } from 'vscode-languageserver-protocol';
import type { TextDocument } from 'vscode-languageserver-textdocument';

export interface Blank {
  start: number;
  end: number;
}

/** Thrown for explicit ranges that overlap; answered as InvalidParams. */
export class BlankRangeError extends Error {
  override readonly name = 'BlankRangeError';
}

const BLANK_RUN = /_{3,}/g;

/** Every run of 3+ underscores, in document order. */
export function findBlanks(text: string): Blank[] {
  const out: Blank[] = [];
  for (const m of text.matchAll(BLANK_RUN)) out.push({ start: m.index, end: m.index + m[0].length });
  return out;
}

/**
 * The blanks to fill: the explicit ranges sorted into document order (duplicates merged), or the
 * underscore runs when no range is given. Overlapping explicit ranges are an error.
 */
export function resolveBlanks(doc: TextDocument, ranges: readonly Range[] | undefined): Blank[] {
  if (ranges === undefined || ranges.length === 0) return findBlanks(doc.getText());
  const blanks = ranges
    .map((r) => ({ start: doc.offsetAt(r.start), end: doc.offsetAt(r.end) }))
    .map((b) => (b.start <= b.end ? b : { start: b.end, end: b.start }))
    .sort((a, b) => a.start - b.start || a.end - b.end);
  const out: Blank[] = [];
  for (const b of blanks) {
    const last = out[out.length - 1];
    if (last !== undefined && last.start === b.start && last.end === b.end) continue;
    if (last !== undefined && b.start < last.end) {
      throw new BlankRangeError(`blank ranges overlap at ${doc.positionAt(b.start).line + 1}:${doc.positionAt(b.start).character + 1}`);
    }
    out.push(b);
  }
  return out;
}
