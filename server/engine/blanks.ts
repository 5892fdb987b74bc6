// Finds the blanks of a document for `fill`: by default runs of three or more underscores.
import { RequestError } from './errors';

export const DEFAULT_BLANK_PATTERN = '_{3,}';

/** Character ranges of every non-empty match of `pattern` (a RegExp source), in document order. */
export function findBlanks(text: string, pattern: string = DEFAULT_BLANK_PATTERN): Array<{ start: number; end: number }> {
  let re: RegExp;
  try {
    re = new RegExp(pattern, 'gu');
  } catch (err) {
    throw new RequestError(`invalid blank pattern ${JSON.stringify(pattern)}: ${(err as Error).message}`);
  }
  const out: Array<{ start: number; end: number }> = [];
  for (const m of text.matchAll(re)) {
    if (m[0].length > 0) out.push({ start: m.index, end: m.index + m[0].length });
  }
  return out;
}

/** The document with blank k replaced by fills[k]. */
export function applyFills(text: string, blanks: ReadonlyArray<{ start: number; end: number }>, fills: readonly string[]): string {
  let out = '';
  let at = 0;
  blanks.forEach((b, k) => {
    out += text.slice(at, b.start) + (fills[k] ?? '');
    at = b.end;
  });
  return out + text.slice(at);
}
