// Token healing at both edges of a gap, so that a gap cut at any character looks to the model like
// the token sequences it was trained on.
//
// The pre-tokenizer glues a word to its leading space (" total"), a line break to the indentation
// after it ("\n    "), and a run of punctuation together ("):"). A gap the user makes cuts through
// such pieces: the cursor after "compu" in "compute", a line deleted so that the text before ends in
// "\n" while the indentation is in the gap, a cursor after "return ". The text before the gap then ends
// in a token the tokenizer never puts there, and the answer has to start with a token it never starts
// with. Healing the prefix (Microsoft's `guidance` calls it token healing): the prefix's last piece is
// taken off and handed to the answer, whose first tokens are constrained to spell it out (the sampler,
// `Span.healed`); the piece is then taken off the answer again. Any token that starts with the removed
// text may come first, so "compu" can become " compute" as one token, and "\n" can become "\n    ".
//
// The suffix side: when the cursor is at a line start with code after it on its line (a line deleted
// as a person deletes it, line break included), the answer is whole lines and ends with a line break.
// The text after the gap tokenized alone starts with the next line's indentation as spaces of its own,
// while in the document that indentation belongs to the line break before it ("\n    "). That line
// break is therefore borrowed: the suffix the model sees starts with it, the answer is written without
// it, and it is added to the answer afterwards. Other suffix starts (mid-identifier) are left as they
// are: constraining how an answer of unknown length ends needs a different sampler.
import type { TextCodec } from './codec';
import { BoundedMap } from './bounded-map';

/** Longest text taken off the prefix: longer pieces (a long identifier, a long run of blanks) stay. */
const MAX_REMOVED_BYTES = 48;

export interface GapEdges {
  /** The text before the gap as the canvas holds it. */
  before: string;
  /** The text after the gap as the canvas holds it. */
  after: string;
  /** Taken off the end of the text before the gap: the answer must start with it (UTF-8). */
  removed: Uint8Array;
  /** Added in front of the text after the gap: the answer gets it back at its end. */
  borrowed: string;
}

const encoder = new TextEncoder();

/** True when the codec can heal (it knows its pieces and token bytes). */
export function canHeal(codec: TextCodec): boolean {
  return typeof codec.pieces === 'function' && typeof codec.tokenBytes === 'function';
}

/** True when the cursor starts a line that already has code after it: the answer is whole lines. */
export function insertsLines(before: string, after: string): boolean {
  const lineStart = before === '' || before.endsWith('\n');
  const nl = after.indexOf('\n');
  const rest = nl < 0 ? after : after.slice(0, nl);
  return lineStart && rest.trim() !== '';
}

/**
 * `fragment`: the gap is part of a line whatever its edges (a `___` blank marked inside a line), so a
 * cursor-like line start is no line insertion and borrows nothing.
 */
export function healGap(codec: TextCodec, before: string, after: string, fragment = false): GapEdges {
  let removed = new Uint8Array(0);
  let kept = before;
  if (before !== '' && canHeal(codec)) {
    const pieces = codec.pieces!(before);
    const last = pieces[pieces.length - 1] ?? '';
    const bytes = encoder.encode(last);
    if (last !== '' && bytes.length <= MAX_REMOVED_BYTES && before.endsWith(last)) {
      removed = bytes;
      kept = before.slice(0, before.length - last.length);
    }
  }
  const borrowed = !fragment && insertsLines(before, after) ? '\n' : '';
  return { before: kept, after: borrowed + after, removed, borrowed };
}

function startsWith(a: Uint8Array, b: Uint8Array): boolean {
  if (b.length > a.length) return false;
  for (let i = 0; i < b.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** UTF-8 bytes of a span's ids. */
export function spanBytes(codec: TextCodec, ids: readonly number[]): Uint8Array {
  const parts = ids.map((id) => codec.tokenBytes!(id));
  const out = new Uint8Array(parts.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of parts) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/**
 * The answer without the healed text it had to start with (`bytes` is the decoded span). An answer
 * that stopped inside the removed text wrote nothing new.
 */
export function stripHealed(bytes: Uint8Array, removed: Uint8Array): string {
  let rest: Uint8Array;
  if (startsWith(bytes, removed)) rest = bytes.subarray(removed.length);
  else if (startsWith(removed, bytes)) rest = new Uint8Array(0);
  else {
    // Only a time-budget cut can leave the constraint unmet: keep what differs from the removed text.
    let i = 0;
    while (i < bytes.length && i < removed.length && bytes[i] === removed[i]) i++;
    rest = bytes.subarray(i);
  }
  return new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(rest);
}

/** Tokens allowed at the next healed position, per remaining text; see allowedNext. */
interface Allowed {
  /** 1 where the token may come next. */
  ok: Uint8Array;
}

const allowedMemo = new WeakMap<TextCodec, BoundedMap<string, Allowed>>();
/**
 * Bytes of masks remembered per tokenizer (one byte per id each): 128 masks for an 8,192-id
 * vocabulary. Computing one is a pass over the vocabulary, well under a millisecond; 512 masks of
 * any size held 4 MB at 8,192 ids (16 MB at 32,768) once a session had healed 512 different texts.
 */
export const ALLOWED_MEMO_BYTES = 1 << 20;

/** Masks in the memo of `codec`: at most ALLOWED_MEMO_BYTES / vocabulary size (16 for a huge vocabulary). */
export function allowedMemoSize(codec: TextCodec): number {
  return allowedMemo.get(codec)?.size ?? 0;
}

/**
 * Which tokens may take the next healed position when `rem` (UTF-8) is still to be spelt out: a token
 * that starts with all of `rem`, or one that is a non-empty start of it (the next position then
 * continues). Special tokens (no bytes) never qualify, so the answer cannot end inside the healed text.
 * When the removed text is only spaces and tabs, a token made only of blanks may not finish it: that
 * would write blanks where the piece was the space before a word (" total"), or a double space.
 */
export function allowedNext(codec: TextCodec, vocabSize: number, rem: Uint8Array, blanksOnly: boolean): Uint8Array {
  const key = `${blanksOnly ? 'b' : 'a'}:${Array.from(rem).join(',')}`;
  let memo = allowedMemo.get(codec);
  if (memo === undefined) {
    memo = new BoundedMap(Math.max(16, Math.floor(ALLOWED_MEMO_BYTES / Math.max(1, vocabSize))));
    allowedMemo.set(codec, memo);
  }
  const hit = memo.get(key);
  if (hit !== undefined) return hit.ok;
  const ok = new Uint8Array(vocabSize);
  for (let id = 0; id < vocabSize; id++) {
    let b: Uint8Array;
    try {
      b = codec.tokenBytes!(id);
    } catch {
      continue; // ids past the tokenizer's vocabulary (a padded embedding) are no text
    }
    if (b.length === 0) continue;
    if (startsWith(b, rem)) {
      if (blanksOnly && b.every((x) => x === 0x20 || x === 0x09)) continue;
      // Removed text that ends in indentation keeps it: a token that goes on with more blanks would
      // indent the line deeper than the user did.
      if (b.length > rem.length && isBlankByte(rem[rem.length - 1]) && isBlankByte(b[rem.length])) continue;
      ok[id] = 1;
    } else if (startsWith(rem, b)) {
      ok[id] = 1;
    }
  }
  memo.set(key, { ok });
  return ok;
}

function isBlankByte(x: number | undefined): boolean {
  return x === 0x20 || x === 0x09;
}

/** True when the bytes are spaces and tabs only (and not empty). */
export function isBlanks(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes.every((x) => x === 0x20 || x === 0x09);
}
