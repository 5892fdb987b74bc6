// Typed errors of the engine. Their messages are written for the user: the CLI prints them as is.

/** A model directory that is missing, unreadable, corrupt, or whose parts disagree. */
export class ModelError extends Error {
  override readonly name = 'ModelError';
  constructor(
    /** The file at fault (a path inside the model directory, or the directory itself). */
    readonly file: string,
    /** What is wrong with it, in words. */
    readonly problem: string,
  ) {
    super(`model file ${file}: ${problem}`);
  }
}

/** A tokenizer.json that cannot be loaded, or an id that is not in the vocabulary. */
export class TokenizerError extends Error {
  override readonly name = 'TokenizerError';
}

/**
 * Says why text is not valid JSON without quoting it: JavaScript's JSON.parse messages may quote the
 * text they failed on, and a file that is not what it should be (a path pointing at another file)
 * must not have its bytes shown. Keeps only the position when the message gives one.
 */
export function jsonSyntaxProblem(err: unknown): string {
  const message = err instanceof Error ? err.message : '';
  const at = /at position (\d+)/.exec(message);
  if (at !== null) return `not valid JSON (syntax error at character ${at[1]})`;
  if (/unexpected end/i.test(message)) return 'not valid JSON (it ends too early)';
  return 'not valid JSON';
}

/** A request that was cancelled (its AbortSignal fired, or a newer request pre-empted it). */
export class AbortError extends Error {
  override readonly name = 'AbortError';
  constructor(message = 'the request was cancelled') {
    super(message);
  }
}

/** A request the engine cannot serve as asked (too long for the model, bad option value...). */
export class RequestError extends Error {
  override readonly name = 'RequestError';
}

/** Throws AbortError when the signal has fired; called between forwards. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    const reason: unknown = signal.reason;
    throw reason instanceof AbortError ? reason : new AbortError();
  }
}
