// What the engine needs from a tokenizer: text <-> ids. The model's tokenizer (tokenizer.ts) provides it;
// the sampler and the context policy depend only on this, so they can be tested with any codec.
export interface TextCodec {
  encode(text: string): ArrayLike<number>;
  decode(ids: ArrayLike<number>): string;
}
