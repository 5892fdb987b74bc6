// Maps failures of the custom requests to LSP errors: the editor always gets an answer, with a
// message meant for the user, and the log gets the details.
import { ErrorCodes, LSPErrorCodes, ResponseError } from 'vscode-languageserver';
import { isAbortError } from './engine-adapter';
import { describeError, type Logger } from './logger';
import { ModelLoadError, RequestTimeoutError } from './model-host';

/** An invalid request (unknown document, bad range...): answered as InvalidParams. */
export class InvalidRequestError extends Error {
  override readonly name = 'InvalidRequestError';
}

const INVALID_PARAMS = new Set(['InvalidRequestError', 'BlankRangeError', 'SamplerOptionsError', 'RequestError']);

export function toResponseError(what: string, err: unknown, log: Logger): ResponseError<void> {
  if (isAbortError(err)) return new ResponseError(LSPErrorCodes.RequestCancelled, `${what} was cancelled`);
  if (err instanceof ModelLoadError) return new ResponseError(ErrorCodes.InternalError, err.message);
  if (err instanceof RequestTimeoutError) {
    log.warn(`${what}: ${err.message}`);
    return new ResponseError(LSPErrorCodes.RequestFailed, `${what}: ${err.message}`);
  }
  if (err instanceof Error && INVALID_PARAMS.has(err.name)) {
    return new ResponseError(ErrorCodes.InvalidParams, `${what}: ${err.message}`);
  }
  log.error(`${what} failed: ${describeError(err)}`);
  return new ResponseError(ErrorCodes.InternalError, `${what} failed: ${err instanceof Error ? err.message : String(err)} (see the Diffill log)`);
}
