// What the server keeps of each open document, bounded. A document over MAX_DOCUMENT_CHARS is never
// completed (document-guard.ts), so keeping its text would only hold memory for as long as it stays
// open: such a document is kept as a stub (URI, language, version and how long it was), and its text
// is garbage as soon as the message that carried it has been handled.
//
// The text need not even be read into memory: a message is framed by its Content-Length, so the
// reader knows before the body arrives that it is large, and feeds it to a `BodySkimmer` as it comes
// (framing.ts). The skimmer keeps the JSON around every string longer than the limit and replaces
// the string by a short marker, so a 50 MB didOpen becomes a few hundred bytes of JSON: the text never
// exists whole, neither as the body's bytes nor as the two strings (the decoded body, the parsed
// value) a plain JSON.parse builds. Over Node IPC (the VS Code extension) the channel parses messages
// itself and none of this applies; VS Code sends no document over 50 MB to extensions anyway.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { TextDocumentsConfiguration } from 'vscode-languageserver';
import { TextDocument } from 'vscode-languageserver-textdocument';

/** About 2 MB of text; beyond this the editor itself turns off most features too. */
export const MAX_DOCUMENT_CHARS = 2_000_000;

/** Documents kept without their text, with the length (UTF-16 code units) they had. */
const oversized = new WeakMap<TextDocument, number>();

/** The length of a document kept without its text, or undefined for an ordinary document. */
export function oversizedLength(doc: TextDocument): number | undefined {
  return oversized.get(doc);
}

// A JSON string replaced by a `BodySkimmer` decodes to this prefix and its length. It starts
// with NUL, which no text document the server would complete contains (document-guard.ts refuses
// them as binary), so a real document that happens to read like it loses nothing.
const MARK = '\u0000diffill:oversized:';

/** The length a marker stands for, or undefined when `text` is not one. */
export function markedLength(text: string): number | undefined {
  if (text.length > MARK.length + 16 || !text.startsWith(MARK)) return undefined;
  const n = Number(text.slice(MARK.length));
  return Number.isSafeInteger(n) ? n : undefined;
}

/** A document without its text; `dropped`: a text was just let go (not an edit of a stub). */
function stub(uri: string, languageId: string, version: number, chars: number, dropped = true): TextDocument {
  const doc = TextDocument.create(uri, languageId, version, '');
  oversized.set(doc, chars);
  if (dropped) collectSoon();
  return doc;
}

// The bytes of an oversized message (and, without the reader's skim, its strings) are garbage once it
// has been handled, but V8 collects only when the program allocates again, and an idle server does
// not: the memory stayed taken (hundreds of MB after a 50 MB document) until the next burst of work,
// and the heap kept the size it had grown to. So one full collection runs shortly after such a
// message. `gc` is reached the way test runners do it (Jest's leak detector, for one): the flag, then
// the function from a fresh context; where that fails, nothing happens but the wait.
let gc: ((options?: { type: 'major' | 'minor' }) => void) | null | undefined;
let pending: NodeJS.Timeout | null = null;

function collector(): typeof gc {
  if (gc === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as typeof gc;
    } catch {
      gc = null;
    }
  }
  return gc;
}

function collectSoon(): void {
  if (pending !== null) return;
  // Later than the handlers of the message itself (the connection handles messages from a queue).
  pending = setTimeout(() => {
    pending = null;
    collector()?.();
  }, 200);
  pending.unref();
}

/** A collection of the young generation only: a millisecond or two. */
function collectYoung(): void {
  collector()?.({ type: 'minor' });
}

function textLength(text: string): number {
  return markedLength(text) ?? text.length;
}

/** The configuration of the server's TextDocuments: ordinary documents, and stubs for oversized ones. */
export const boundedDocuments: TextDocumentsConfiguration<TextDocument> = {
  create(uri, languageId, version, content) {
    const chars = textLength(content);
    return chars > MAX_DOCUMENT_CHARS ? stub(uri, languageId, version, chars) : TextDocument.create(uri, languageId, version, content);
  },

  update(doc, changes, version) {
    let current = doc;
    let rest = changes;
    const before = oversized.get(doc);
    if (before !== undefined) {
      // Its text is gone, so an edit of a range cannot be applied: only a change that replaces the
      // whole text brings the document back, or closing and reopening it. Until then the length is
      // the one it had when its text was dropped.
      const whole = findLastIndex(changes, (c) => !('range' in c));
      if (whole === -1) return stub(doc.uri, doc.languageId, version, before, false);
      current = boundedDocuments.create(doc.uri, doc.languageId, version, changes[whole]!.text);
      rest = changes.slice(whole + 1);
      if (oversized.has(current)) return boundedDocuments.update(current, rest, version);
    }
    // A change carrying an oversized text (a paste of megabytes) makes the document oversized too.
    const pasted = rest.reduce((n, c) => n + (markedLength(c.text) ?? 0), 0);
    if (pasted > 0) return stub(doc.uri, doc.languageId, version, current.getText().length + pasted);
    const next = TextDocument.update(current, rest, version);
    const length = next.getText().length;
    return length > MAX_DOCUMENT_CHARS ? stub(doc.uri, doc.languageId, version, length) : next;
  },
};

function findLastIndex<T>(xs: readonly T[], ok: (x: T) => boolean): number {
  for (let i = xs.length - 1; i >= 0; i--) if (ok(xs[i]!)) return i;
  return -1;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LOWER_U = 0x75;

/** Bytes appended in order into one buffer of its own (doubling), so no piece fed to it stays referenced. */
class ByteBuilder {
  private buf = new Uint8Array(1024);
  length = 0;

  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    if (this.length + bytes.length > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < this.length + bytes.length) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
    }
    this.buf.set(bytes, this.length);
    this.length += bytes.length;
  }

  bytes(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

/** The notifications whose oversized strings are document text, which the store keeps as a stub. */
const DOCUMENT_SYNC = new Set(['textDocument/didOpen', 'textDocument/didChange']);

/** Minor collections while a large body streams in: every this many bytes fed (see `feed`). */
const COLLECT_EVERY_BYTES = 4 * 1024 * 1024;

/**
 * Reads one JSON message body fed in pieces, in order, and keeps all of it but its strings longer than
 * `limitChars` UTF-16 code units, each replaced by a marker of its length (`markedLength` reads it
 * back). The length is counted on the bytes as JSON.parse would decode them: an escape is one code
 * unit (a surrogate pair is written as two `\u` escapes), a 4-byte UTF-8 sequence two, any other
 * character one. What it keeps is copied, so the pieces are garbage as soon as they are fed; a string
 * is held until it is known to be too long (at most `limitChars` code units of it).
 *
 * The reader feeds a body this way when it could hold such a string (framing.ts): a 50 MB didOpen then
 * never exists whole, neither as bytes nor as a string. Pieces that are dropped only leave memory at
 * the next collection, and the C library keeps what they took for itself (hundreds of 64 KB pipe reads
 * alive at once grew its heap by the message's size, for good), so a minor collection runs every few
 * megabytes fed.
 */
export class BodySkimmer {
  private readonly kept = new ByteBuilder();
  /** The string being read, from its opening quote, while it may still be kept; null once too long. */
  private string: ByteBuilder | null = null;
  private inString = false;
  /** 0: no escape; -1: a backslash was the last byte; n > 0: hex digits of a \u escape left. */
  private escape = 0;
  private units = 0;
  private fedSinceCollect = 0;
  /** Strings replaced so far. */
  replaced = 0;

  constructor(private readonly limitChars: number = MAX_DOCUMENT_CHARS) {}

  feed(piece: Uint8Array): void {
    let from = 0;
    const n = piece.length;
    for (let i = 0; i < n; i++) {
      const c = piece[i]!;
      if (!this.inString) {
        if (c === QUOTE) {
          this.kept.push(piece.subarray(from, i));
          this.inString = true;
          this.units = 0;
          this.string = new ByteBuilder();
          from = i;
        }
        continue;
      }
      if (this.escape !== 0) {
        this.escape = this.escape === -1 ? (c === LOWER_U ? 4 : 0) : this.escape - 1;
        continue;
      }
      if (c === BACKSLASH) {
        this.units++;
        this.escape = -1;
      } else if (c === QUOTE) {
        if (this.string !== null) {
          this.string.push(piece.subarray(from, i + 1));
          this.kept.push(this.string.bytes());
        } else {
          this.kept.push(Buffer.from(JSON.stringify(MARK + String(this.units)), 'utf8'));
          this.replaced++;
        }
        this.string = null;
        this.inString = false;
        from = i + 1;
        continue;
      } else if ((c & 0xc0) !== 0x80) {
        // Continuation bytes (10xxxxxx) add nothing; a 4-byte sequence's lead (11110xxx) is a pair.
        this.units += c >= 0xf0 ? 2 : 1;
      }
      if (this.units > this.limitChars && this.string !== null) this.string = null;
    }
    if (!this.inString) this.kept.push(piece.subarray(from));
    else this.string?.push(piece.subarray(from));
    this.fedSinceCollect += n;
    if (this.fedSinceCollect >= COLLECT_EVERY_BYTES) {
      this.fedSinceCollect = 0;
      collectYoung();
    }
  }

  /** What was kept: the body itself when nothing was replaced. A string left open is kept as read. */
  skeleton(): Uint8Array {
    if (this.inString && this.string !== null) this.kept.push(this.string.bytes());
    this.string = null;
    this.inString = false;
    return this.kept.bytes();
  }

  /**
   * The message (`decode` turns bytes into text, and may throw on bytes that are not UTF-8). A
   * replaced string is document text only in didOpen and didChange; any other message that held one
   * is refused with a SyntaxError (no message the server reads carries text that long).
   */
  parse(decode: (bytes: Uint8Array) => string): unknown {
    const message = JSON.parse(decode(this.skeleton())) as { method?: unknown } | null;
    if (this.replaced > 0 && !(typeof message?.method === 'string' && DOCUMENT_SYNC.has(message.method))) {
      throw new SyntaxError(`it holds a string over ${this.limitChars} characters outside a document's text`);
    }
    return message;
  }
}
