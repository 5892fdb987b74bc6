// The engine's public surface: what the language server and the CLI may use.
// The engine imports no editor code; callers pass plain strings and an AbortSignal.

/** Sampler knobs. Defaults live in options.ts and are chosen by measurement (docs/benchmarks.md). */
export interface SamplerOptions {
  /** Most reverse-diffusion forwards for one request (capped at the span length). */
  steps: number;
  /** Commit every masked token whose confidence >= threshold (at least one per step); 1 disables. */
  threshold: number;
  /** 0 = greedy (argmax); > 0 = exact Gumbel-max sampling at this temperature. */
  temperature: number;
  /** Per-sequence top-k before sampling; 0 = off. */
  topK: number;
  /** Unsupervised classifier-free guidance strength w; 0 = off. */
  guidance: number;
  /** Order of commits: by confidence (MaskGIT / low-confidence) or random. */
  order: 'confidence' | 'random';
  /** Semi-autoregressive block length in tokens; 0 = the whole span is one block. */
  blockLength: number;
  /** Re-mask this fraction of the weakest commits each step (0 = never re-mask). */
  remask: number;
  /**
   * Each span holds at least this many tokens: [PAD] cannot be chosen at its first `minTokens`
   * positions. 0 (the default, and the trained behaviour) lets the model answer with nothing; Fill
   * Blanks uses 1, because a blank the user marked asks for text.
   */
  minTokens: number;
  /**
   * Decide each span's length on the first forward: [PAD] is committed at the first position whose
   * P([PAD]) >= lengthThreshold and broadcast to the right, so later steps decode only the answer.
   * P([PAD]) at position i of an all-mask span estimates P(answer length <= i); 0 = off (a [PAD] then
   * commits only when it wins the confidence rule like any token, which the model does mostly from the
   * right end, one [PAD] per forward).
   */
  lengthThreshold: number;
  /**
   * Repetition guard: a token chosen in the same forward as the same token one or two positions to
   * its left waits for the next forward (parallel commits cannot see each other). See sampler.ts.
   */
  repeatGuard: boolean;
  /** Use the context K/V cache (span-only steps); false = exact full recompute every step. */
  cache: boolean;
  /** Recompute the context cache every N steps (0 = never after the first pass). */
  cacheRefresh: number;
  /** PRNG seed for temperature/random order. */
  seed: number;
  /** Wall-clock budget in ms; on expiry the best complete answer so far is returned (or none). 0 = none. */
  timeBudgetMs: number;
}

/** How much text around the gap the model sees. */
export interface ContextOptions {
  /** Token budget for the text around the gap(s) (BOS/EOS markers not counted). */
  maxContextTokens: number;
  /** Share of the budget given to the prefix when both sides are long (0..1). */
  prefixShare: number;
}

/** Cancellation and scheduling controls shared by every request. */
export interface RequestControl {
  /** Cancels the request between forwards; the promise then rejects with an AbortError. */
  signal?: AbortSignal;
  /** Requests of one group (e.g. one editor document) can pre-empt each other. */
  group?: string;
  /** Abort every older queued or running request of the same group before this one runs. */
  preempt?: boolean;
  /**
   * Run before every queued request that is not urgent, and take the session from a running one at its
   * next forward (it resumes afterwards, where it was): ghost text is not kept waiting behind a long
   * Fill Blanks.
   */
  urgent?: boolean;
}

/** How a gap's edges and its answer are fitted to the document (heal.ts, scope.ts). */
export interface FitOptions {
  /** Token healing at the gap's edges: any character boundary is given to the model as the tokenizer would cut it. */
  heal: boolean;
  /**
   * Cut the answer to the gap's scope: to the end of its line when code follows the cursor on the line,
   * whole lines at a line start, the block a new line opens; repeats of the text after the gap and
   * runaway repetition dropped.
   */
  scope: boolean;
}

export interface InfillRequest extends RequestControl {
  /** Text before the gap. */
  prefix: string;
  /** Text after the gap. */
  suffix: string;
  /** Most tokens the answer may have (the canvas size); the model may use fewer ([PAD]). */
  maxTokens?: number;
  sampler?: Partial<SamplerOptions>;
  context?: Partial<ContextOptions>;
  fit?: Partial<FitOptions>;
}

export interface GenerationStats {
  latencyMs: number;
  /** Denoising forwards (a guided step, conditional and unconditional row together, counts once). */
  forwards: number;
  /** Tokens committed (not counting trailing [PAD]). */
  tokens: number;
  /** True when the time budget cut decoding short and an earlier complete answer was returned. */
  truncated: boolean;
}

export interface InfillResult extends GenerationStats {
  text: string;
}

export interface FillRequest extends RequestControl {
  /** The whole document. */
  text: string;
  /** Character ranges [start, end) to fill, non-overlapping, in document order. */
  blanks: ReadonlyArray<{ start: number; end: number }>;
  maxTokensPerBlank?: number;
  sampler?: Partial<SamplerOptions>;
  context?: Partial<ContextOptions>;
  fit?: Partial<FitOptions>;
}

export interface FillResult extends GenerationStats {
  /** One fill per blank, in the same order. */
  fills: string[];
}

export interface BeforeRequest extends RequestControl {
  /** Text that must follow what is written (the anchor line and below). */
  suffix: string;
  /** Text above the insertion point (may be empty). */
  prefix: string;
  maxTokens?: number;
  sampler?: Partial<SamplerOptions>;
  context?: Partial<ContextOptions>;
}
