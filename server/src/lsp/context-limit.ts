// `diffill.contextTokens` asks for so many tokens of text around the gap, but a model reads at most its
// max_position tokens in all: the gap's own canvas and BOS/EOS come out of the same room. The engine
// quietly takes what fits (server/engine/canvas.ts); this says so in the log, once per model and
// setting, so that a user who asked for 1024 tokens of context learns that the shipped model sees 478.
import type { InfillEngine } from './engine-adapter';
import type { Logger } from './logger';

/** Tokens of context a request really gets when its gaps take `gapTokens` of the canvas. */
export function contextRoom(maxPosition: number, gapTokens: number): number {
  return Math.max(0, maxPosition - 2 - gapTokens);
}

/** What was told, by model name, size, request kind and setting (engines may be wrapped per request). */
const told = new Set<string>();

/**
 * Logs one warning when the setting asks for more tokens than the engine's model reads in all, saying
 * what a request with a gap of `gapTokens` gets; returns the message, or null when the setting is
 * within the model's window (or this was already told).
 */
export function noteContextCut(log: Logger, engine: InfillEngine, contextTokens: number, gapTokens: number, what: string): string | null {
  if (engine.maxPosition === undefined) return null;
  // Up to max_position the setting is the window the model reads, and the gap always takes its share
  // of it: the defaults (512 for a 512-position model) are no cut to warn about. Beyond it, the user
  // asked for context the model cannot read.
  if (contextTokens <= engine.maxPosition) return null;
  const room = contextRoom(engine.maxPosition, gapTokens);
  const key = `${engine.name}:${engine.maxPosition}:${what}:${contextTokens}:${room}`;
  if (told.has(key)) return null;
  told.add(key);
  const message =
    `diffill.contextTokens is ${contextTokens}, but the model ${engine.name} reads ${engine.maxPosition} tokens in all: ` +
    `${what} (${gapTokens} tokens) gets at most ${room} tokens of context`;
  log.warn(message);
  return message;
}
