// The byte level of the tokenizer: GPT-2's alphabet that shows each of the 256 byte values as one
// printable code point (vocabulary strings are written in it), and the replacement of lone surrogates
// that makes every JavaScript string encodable as UTF-8.

/** GPT-2's byte-level alphabet: every byte is shown as one printable code point. */
function byteLevelAlphabet(): string[] {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const chars: string[] = new Array(256);
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    chars[b] = String.fromCharCode(printable(b) ? b : 256 + shifted++);
  }
  return chars;
}

/** The alphabet's character of each byte value. */
export const BYTE_CHARS = byteLevelAlphabet();
/** The byte value of each alphabet character. */
export const CHAR_TO_BYTE = new Map<string, number>(BYTE_CHARS.map((c, b) => [c, b]));

/** `bytes` written in the byte-level alphabet (the form of a vocabulary entry). */
export function byteLevelString(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += BYTE_CHARS[bytes[i]!];
  return s;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Replaces each lone surrogate with U+FFFD (see the text contract in tokenizer.ts). */
export function toWellFormed(text: string): string {
  const s = text as string & { isWellFormed?: () => boolean };
  if (typeof s.isWellFormed === 'function' && s.isWellFormed()) return text;
  return text.replace(LONE_SURROGATE, '\uFFFD');
}
