// The one logging surface of the language server. Over LSP it writes to the client's output
// channel (window/logMessage); tests pass an in-memory logger.
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Formats an unknown thrown value for the log, with the stack for unexpected errors. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    // Typed errors (ModelError, RequestError...) carry a message written for the user.
    return err.name !== 'Error' ? `${err.name}: ${err.message}` : (err.stack ?? err.message);
  }
  return String(err);
}
