// The tokenizer shared by the engine, the CLI and (through the same tokenizer.json) the Python
// trainer and importer. Token ids must be identical on both sides, so it reproduces the Rust
// `tokenizers` library exactly for two families, and refuses any other file:
// - byte-level BPE: the family we ship (scripts/corpus/train_tokenizer.py) and Qwen2's (an NFC
//   normalizer, non-special added tokens such as <|fim_prefix|>);
// - SentencePiece BPE with byte fallback: Llama-2 / TinyLlama as Hugging Face writes it
//   (tokenizer-sp.ts, which also says how the dummy "▁" prefix is handled).
// test/fixtures/tokenizer-vectors.json and test/fixtures/tokenizer-families/ (made by Python) pin the
// parity. The parts:
// - tokenizer-json.ts loads tokenizer.json, refuses anything else, and builds the Split
//   pre-tokenizer (from @huggingface/tokenizers) and the tables;
// - tokenizer-sp.ts is the SentencePiece family's rules;
// - tokenizer-bpe.ts is the merge loop (our own: the Rust algorithm, O(n log n) per pre-token);
// - tokenizer-bytes.ts is the byte-level alphabet and the lone-surrogate rule;
// - this file encodes (normalize, pre-tokenize, then BPE each piece, with a memo) and decodes.
//
// What else is our own rather than the library's:
// - encode() never looks for added/special tokens in the text. The library's Tokenizer.encode
//   always splits them out (it has no `encode_special_tokens` switch) and also maps output token
//   *strings* back to ids through the added-token table. Text that merely contains "<|mask|>",
//   "<s>" or "<|fim_prefix|>" must stay ordinary text, so we run the pre-tokenizer and the model
//   ourselves. The Python side matches this with `tokenizer.encode_special_tokens = True` and
//   `encode(text, add_special_tokens=False)`, and for non-special added tokens (which the Rust
//   library splits out even then) by marking them special
//   (diffill_trainer.imports.tokenizer.engine_tokenizer).
// - decode() is our own too: the library's decode applies `clean_up_tokenization_spaces` by
//   default (it rewrites " ." to "."), and the SentencePiece decoder strips the leading space;
//   either would break decode(encode(s)) === s.
//
// Text contract:
// - decode(encode(s)) === s for every well-formed string (any code point, CRLF, NUL, BOM, ...):
//   pre-tokenization partitions the text, every byte has a token (the byte-level alphabet, or
//   <0xNN> byte fallback), and BPE merges only concatenate. Two exceptions come with the families'
//   normalizers: Qwen2's NFC (the round trip gives s.normalize('NFC')), and SentencePiece's "▁",
//   which stands for a space (a "▁" in the text comes back as a space).
// - encode(a + b) is encode(a) followed by encode(b) wherever a piece boundary falls between them;
//   for the SentencePiece family encode() therefore has no dummy prefix, and encodeDocument() is
//   the form with it (Python's own ids, for text at the start of a document).
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
import { initialSymbols, markSpaces, type SentencePieceRules, sentencePieceTokenBytes, withDummyPrefix, words } from './tokenizer-sp';

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
  /** Every added token, special or not (content -> id); none is ever produced by encode(). */
  readonly addedTokens: ReadonlyMap<string, number>;
  /** "sentencepiece-bpe" or "byte-level-bpe": the family of tokenizer.json. */
  readonly family: 'sentencepiece-bpe' | 'byte-level-bpe';
  /**
   * The text encodeDocument() puts in front of a non-empty text, as decode() gives it back: " " for
   * the SentencePiece family's dummy prefix (unless a Metaspace file's text starts with a space),
   * "" for the byte-level family.
   */
  readonly documentPrefix: string;

  private readonly splits: PreTokenizerStep[];
  private readonly nfc: boolean;
  private readonly sp: SentencePieceRules | undefined;
  private readonly vocab: Map<string, number>;
  private readonly idToToken: (string | undefined)[];
  private readonly addedContent: (string | undefined)[];
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
    this.addedTokens = t.addedTokens;
    this.specialIds = new Set(t.specialTokens.values());
    this.splits = t.splits;
    this.nfc = t.nfc;
    this.sp = t.sentencePiece;
    this.family = this.sp ? 'sentencepiece-bpe' : 'byte-level-bpe';
    this.documentPrefix = this.sp ? ' ' : '';
    this.vocab = t.vocab;
    this.idToToken = t.idToToken;
    this.addedContent = new Array(this.vocabSize);
    for (const [content, id] of t.addedTokens) this.addedContent[id] = content;
    this.merges = t.merges;
    this.ignoreMerges = t.ignoreMerges;
    this.tokenBytesCache = new Array(this.vocabSize);
  }

  /** Token ids of `text`, with no special tokens added or recognised (see the header comment). */
  encode(text: string): Uint32Array {
    return this.encodePieces(this.normalizedPieces(text), text.length);
  }

  /**
   * Token ids of `text` at the start of a document: with the SentencePiece family's dummy "▁"
   * prefix, as Python's `tokenizers` (and SentencePiece) encode a whole text. The same as encode()
   * for the byte-level family.
   */
  encodeDocument(text: string): Uint32Array {
    if (!this.sp) return this.encode(text);
    return this.encodePieces(words(withDummyPrefix(markSpaces(toWellFormed(text)), this.sp), this.sp), text.length);
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

  /** UTF-8 bytes one id stands for (empty for special tokens; a non-special added token's content). */
  tokenBytes(id: number): Uint8Array {
    const cached = this.tokenBytesCache[id];
    if (cached !== undefined) return cached;
    const ok = Number.isInteger(id) && id >= 0 && id < this.vocabSize;
    const token = ok ? this.idToToken[id] : undefined;
    const added = ok ? this.addedContent[id] : undefined;
    if (token === undefined && added === undefined) throw new TokenizerError(`token id ${id} is not in the vocabulary (size ${this.vocabSize})`);
    let bytes: Uint8Array;
    if (this.specialIds.has(id)) {
      bytes = new Uint8Array(0);
    } else if (token === undefined) {
      bytes = this.utf8.encode(added!);
    } else if (this.sp) {
      bytes = sentencePieceTokenBytes(token, this.utf8);
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

  /** The raw vocabulary string of an id (byte-level characters, or "▁" and <0xNN>), or undefined. */
  idToTokenString(id: number): string | undefined {
    return this.idToToken[id] ?? this.addedContent[id];
  }

  /**
   * The pre-tokenizer's pieces of `text`: BPE merges never cross their boundaries. They are pieces
   * of the normalized text (NFC for Qwen2; spaces, not "▁", for SentencePiece, one piece when its
   * vocabulary can merge across words).
   */
  pieces(text: string): string[] {
    const clean = toWellFormed(text);
    if (!this.sp) return this.preTokenize(this.nfc ? clean.normalize('NFC') : clean);
    // markSpaces keeps UTF-16 offsets, so the words' lengths cut the text itself.
    const out: string[] = [];
    let at = 0;
    for (const w of words(markSpaces(clean), this.sp)) {
      out.push(clean.slice(at, at + w.length));
      at += w.length;
    }
    return out;
  }

  /** The pieces encode() runs the model on, in the vocabulary's own spelling. */
  private normalizedPieces(text: string): string[] {
    const clean = toWellFormed(text);
    if (this.sp) return words(markSpaces(clean), this.sp);
    return this.preTokenize(this.nfc ? clean.normalize('NFC') : clean);
  }

  private encodePieces(pieces: string[], textLength: number): Uint32Array {
    let out = new Uint32Array(Math.max(16, textLength >> 1));
    let n = 0;
    for (const piece of pieces) {
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
    let ids: Uint32Array;
    if (this.sp) {
      ids = this.merges.applySymbols(initialSymbols(piece, this.vocab, this.sp.byteTokens, this.utf8));
    } else {
      const bytes = this.utf8.encode(piece);
      const whole = this.ignoreMerges ? this.vocab.get(byteLevelString(bytes)) : undefined;
      if (whole !== undefined) ids = Uint32Array.of(whole);
      else ids = this.merges.apply(bytes);
    }
    if (cacheable) this.pieceCache.set(piece, ids);
    return ids;
  }
}
