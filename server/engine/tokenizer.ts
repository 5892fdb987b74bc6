// The byte-level BPE tokenizer shared by the engine, the CLI and (through the same tokenizer.json)
// the Python trainer. Token ids must be identical on both sides, so it reproduces the Rust
// `tokenizers` library exactly for the tokenizer family we ship (scripts/corpus/train_tokenizer.py);
// test/fixtures/tokenizer-vectors.json (made by Python) pins the parity. The parts:
// - tokenizer-json.ts loads tokenizer.json, refuses any other family, and builds the Split
//   pre-tokenizer (from @huggingface/tokenizers) and the tables;
// - tokenizer-bpe.ts is the merge loop (our own: the Rust algorithm, O(n log n) per pre-token);
// - tokenizer-bytes.ts is the byte-level alphabet and the lone-surrogate rule;
// - this file encodes (pre-tokenize, then BPE each piece, with a memo) and decodes.
//
// What else is our own rather than the library's:
// - encode() never looks for added/special tokens in the text. The library's Tokenizer.encode
//   always splits them out (it has no `encode_special_tokens` switch) and also maps output token
//   *strings* back to ids through the added-token table. Text that merely contains "<|mask|>"
//   must stay ordinary text, so we run the pre-tokenizer and the model ourselves. The Python
//   side matches this with `tokenizer.encode_special_tokens = True` and
//   `encode(text, add_special_tokens=False)`.
// - decode() is our own too: the library's decode applies `clean_up_tokenization_spaces` by
//   default (it rewrites " ." to "."), which would break decode(encode(s)) === s.
//
// Text contract:
// - decode(encode(s)) === s for every well-formed string (any code point, CRLF, NUL, BOM, ...):
//   pre-tokenization partitions the text, the byte-level alphabet covers all 256 bytes, and
//   BPE merges only concatenate.
// - Lone surrogates (UTF-16 halves without their partner, which are not Unicode scalar values and
//   have no UTF-8 encoding) are replaced by U+FFFD before encoding, so for such strings the
//   round trip gives the string with each lone surrogate replaced by U+FFFD, the substitution
//   TextEncoder makes. (Python text read from UTF-8 files never holds lone surrogates, and the
//   Rust library refuses them, so the trainer never sees one.)
// - decode() of an arbitrary id sequence may cut a multi-byte character; each invalid UTF-8
//   sequence then decodes to U+FFFD (use decodeBytes() to join pieces at the byte level).
import { BoundedMap } from './bounded-map';
import { TokenizerError } from './errors';
import type { BpeMerges } from './tokenizer-bpe';
import { byteLevelString, CHAR_TO_BYTE, toWellFormed } from './tokenizer-bytes';
import { parseTokenizerJson, type PreTokenizerStep, readTokenizerFile, type TokenizerTables } from './tokenizer-json';

export { TokenizerError } from './errors';
export { toWellFormed } from './tokenizer-bytes';

const CACHE_MAX_CHARS = 64;
/**
 * Pieces remembered (the oldest out): about 300 bytes each, so under 3 MB. The server
 * re-encodes the few kilobytes around the cursor on every keystroke, whose pieces stay in; a bound
 * of 50,000 that was cleared when full held up to 15 MB and grew all through a long session.
 */
export const PIECE_CACHE_ENTRIES = 8192;

export class Tokenizer {
  /** Number of ids (the embedding rows a model needs): highest id + 1. */
  readonly vocabSize: number;
  /** Special tokens (content -> id), as declared in tokenizer.json's added_tokens. */
  readonly specialTokens: ReadonlyMap<string, number>;

  private readonly splits: PreTokenizerStep[];
  private readonly vocab: Map<string, number>;
  private readonly idToToken: (string | undefined)[];
  private readonly specialIds: Set<number>;
  private readonly merges: BpeMerges;
  private readonly ignoreMerges: boolean;
  private readonly tokenBytesCache: (Uint8Array | undefined)[];
  private readonly pieceCache = new BoundedMap<string, Uint32Array>(PIECE_CACHE_ENTRIES);
  private readonly utf8 = new TextEncoder();

  /** Pieces in the encoding memo (at most PIECE_CACHE_ENTRIES). */
  get cachedPieces(): number {
    return this.pieceCache.size;
  }

  /** Loads a tokenizer.json file. */
  static fromFile(path: string): Tokenizer {
    return Tokenizer.fromJSON(readTokenizerFile(path), path);
  }

  /** Builds a tokenizer from tokenizer.json content (text or parsed). `source` names it in errors. */
  static fromJSON(json: string | object, source = 'tokenizer.json'): Tokenizer {
    return new Tokenizer(parseTokenizerJson(json, source));
  }

  private constructor(t: TokenizerTables) {
    this.vocabSize = t.vocabSize;
    this.specialTokens = t.specialTokens;
    this.specialIds = new Set(t.specialTokens.values());
    this.splits = t.splits;
    this.vocab = t.vocab;
    this.idToToken = t.idToToken;
    this.merges = t.merges;
    this.ignoreMerges = t.ignoreMerges;
    this.tokenBytesCache = new Array(this.vocabSize);
  }

  /** Token ids of `text`, with no special tokens added or recognised (see the header comment). */
  encode(text: string): Uint32Array {
    let out = new Uint32Array(Math.max(16, text.length >> 1));
    let n = 0;
    for (const piece of this.preTokenize(toWellFormed(text))) {
      const ids = this.encodePiece(piece);
      if (n + ids.length > out.length) {
        const grown = new Uint32Array(Math.max(out.length * 2, n + ids.length));
        grown.set(out.subarray(0, n));
        out = grown;
      }
      out.set(ids, n);
      n += ids.length;
    }
    return out.slice(0, n);
  }

  /** Text of `ids`. Special tokens (pad, mask, ...) produce no text. Unknown ids throw. */
  decode(ids: ArrayLike<number>): string {
    return new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(this.decodeBytes(ids));
  }

  /** UTF-8 bytes of `ids` (special tokens skipped), for joining partial decodes without U+FFFD. */
  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    const parts: Uint8Array[] = [];
    let total = 0;
    for (let i = 0; i < ids.length; i++) {
      const bytes = this.tokenBytes(ids[i]!);
      parts.push(bytes);
      total += bytes.length;
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  /** UTF-8 bytes one id stands for (empty for special tokens). */
  tokenBytes(id: number): Uint8Array {
    const cached = this.tokenBytesCache[id];
    if (cached !== undefined) return cached;
    const token = Number.isInteger(id) && id >= 0 ? this.idToToken[id] : undefined;
    if (token === undefined) throw new TokenizerError(`token id ${id} is not in the vocabulary (size ${this.vocabSize})`);
    let bytes: Uint8Array;
    if (this.specialIds.has(id)) {
      bytes = new Uint8Array(0);
    } else {
      bytes = new Uint8Array(token.length);
      for (let i = 0; i < token.length; i++) {
        const b = CHAR_TO_BYTE.get(token[i]!);
        if (b === undefined) throw new TokenizerError(`token ${id} (${JSON.stringify(token)}) is not a byte-level token`);
        bytes[i] = b;
      }
    }
    this.tokenBytesCache[id] = bytes;
    return bytes;
  }

  /** Id of a special token by its content, e.g. "<|mask|>". Throws if the tokenizer lacks it. */
  specialTokenId(content: string): number {
    const id = this.specialTokens.get(content);
    if (id === undefined) {
      throw new TokenizerError(`the tokenizer has no special token ${JSON.stringify(content)} (it has ${[...this.specialTokens.keys()].join(', ')})`);
    }
    return id;
  }

  /** True for ids of special tokens (they never come out of encode()). */
  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  /** The raw vocabulary string of an id (byte-level characters), or undefined. */
  idToTokenString(id: number): string | undefined {
    return this.idToToken[id];
  }

  /** The pre-tokenizer's pieces of `text`: BPE merges never cross their boundaries. */
  pieces(text: string): string[] {
    return this.preTokenize(toWellFormed(text));
  }

  private preTokenize(text: string): string[] {
    let pieces = [text];
    for (const step of this.splits) pieces = step.pre_tokenize(pieces);
    return pieces;
  }

  private encodePiece(piece: string): Uint32Array {
    const cacheable = piece.length <= CACHE_MAX_CHARS;
    if (cacheable) {
      const hit = this.pieceCache.get(piece);
      if (hit !== undefined) return hit;
    }
    const bytes = this.utf8.encode(piece);
    let ids: Uint32Array;
    const whole = this.ignoreMerges ? this.vocab.get(byteLevelString(bytes)) : undefined;
    if (whole !== undefined) ids = Uint32Array.of(whole);
    else ids = this.merges.apply(bytes);
    if (cacheable) this.pieceCache.set(piece, ids);
    return ids;
  }
}
