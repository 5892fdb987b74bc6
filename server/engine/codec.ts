// What the engine needs from a tokenizer: text <-> ids. The model's tokenizer (tokenizer.ts) provides it;
// the sampler and the context policy depend only on this, so they can be tested with any codec.
export interface TextCodec {
  encode(text: string): ArrayLike<number>;
  /**
   * The ids of text that starts a document. SentencePiece tokenizers put a dummy "▁" in front of a
   * document, so its first word is a different token than the same word after a line break; encode()
   * leaves it out so that pieces concatenate. Absent (or equal to encode) for byte-level tokenizers.
   */
  encodeDocument?(text: string): ArrayLike<number>;
  decode(ids: ArrayLike<number>): string;
  /**
   * The pre-tokenizer's pieces of `text` (no BPE merge crosses a piece boundary). Token healing
   * (heal.ts) backs a gap's prefix off by its last piece; a codec without it heals by one token.
   */
  pieces?(text: string): string[];
  /** UTF-8 bytes of one id (empty for special tokens); token healing compares answers byte-wise. */
  tokenBytes?(id: number): Uint8Array;
}
