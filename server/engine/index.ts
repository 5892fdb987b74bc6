// The engine's entry point for the language server and the CLI.
export type * from './api';
export { Engine, loadModel } from './engine';
export { openModel, Model, type LoadOptions } from './model';
export { infill } from './infill';
export { fill } from './fill';
export { before } from './before';
export { findBlanks, applyFills, DEFAULT_BLANK_PATTERN } from './blanks';
export { ModelError, AbortError, RequestError } from './errors';
export { DEFAULT_SAMPLER, DEFAULT_CONTEXT, DEFAULT_MAX_TOKENS, resolveSampler, resolveContext } from './options';
export { parameterCount } from './config';
