// Options shared by the commands that run the model (infill, fill, before, bench): parsed once here so
// every command spells and checks them the same way. The bounds are the settings' and the language
// server's (limits.ts), so the command line accepts what the editor accepts and nothing more.
import { UsageError } from '../command';
import { SAMPLER_BOUNDS, SETTING_BOUNDS, type Bound } from '../limits';
import { defaultModelDir } from '../../common/paths';
import type { SamplerOptions } from '../../engine/api';
import { boundedFlag, parseCommandArgs } from './args';

const g = SAMPLER_BOUNDS.guidance;
const st = SAMPLER_BOUNDS.steps;
const te = SAMPLER_BOUNDS.temperature;
const th = SETTING_BOUNDS.threads;
const cx = SETTING_BOUNDS.contextTokens;

export const ENGINE_FLAGS_USAGE = `Model and sampler options:
  --model DIR        model directory (default: the bundled models/default)
  --guidance W       classifier-free guidance strength, ${g.min} to ${g.max} (0 = off)
  --steps N          most forwards per request, ${st.min} to ${st.max}
  --threshold X      commit every token at least this confident per step, 0 to 1 (1 = one per step)
  --length-threshold X  decide the answer's length on the first forward at this P([PAD]), 0 to 1 (0 = off)
  --temperature T    ${te.min} to ${te.max}; 0 = greedy, > 0 samples
  --seed S           random seed for sampling, 0 to 4294967295
  --threads T        inference threads, ${th.min} to ${th.max} (default 0: all CPUs)
  --no-cache         exact full recompute every step (no context K/V cache)
  --context N        context token budget around the gap, ${cx.min} to ${cx.max}`;

export const engineFlagSpec = {
  model: { type: 'string' },
  guidance: { type: 'string' },
  steps: { type: 'string' },
  threshold: { type: 'string' },
  'length-threshold': { type: 'string' },
  temperature: { type: 'string' },
  seed: { type: 'string' },
  threads: { type: 'string' },
  'no-cache': { type: 'boolean' },
  context: { type: 'string' },
} as const;

/** Engine options with no setting: the engine's own ranges (engine/options.ts). */
const FRACTION: Bound = { min: 0, max: 1, integer: false };
const SEED: Bound = { min: 0, max: 2 ** 32 - 1, integer: true };

export interface EngineFlags {
  model: string;
  /** Inference threads; undefined = all CPUs. */
  threads: number | undefined;
  sampler: Partial<SamplerOptions>;
  contextTokens: number | undefined;
}

/** A positive integer without an upper bound (e.g. --limit); undefined when not given. */
export function positiveIntFlag(flag: string, value: string | undefined): number | undefined {
  return boundedFlag(flag, value, { min: 1, max: Number.MAX_SAFE_INTEGER, integer: true });
}

/**
 * `--max-tokens` of a command: at least 1, at most what the editor allows for the same kind of
 * answer (`diffill.maxTokens`, times `longForm` for Fill Blanks and Write What Comes Before).
 */
export function maxTokensFlag(value: string | undefined, longForm = 1): number | undefined {
  const b = SETTING_BOUNDS.maxTokens;
  return boundedFlag('max-tokens', value, { min: b.min, max: b.max * longForm, integer: true });
}

/** A number without bounds; undefined when the flag was not given. Prefer boundedFlag (args.ts). */
export function num(value: string | undefined, name: string, integer = false): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    throw new UsageError(`--${name} must be ${integer ? 'an integer' : 'a number'} (got '${value}')`);
  }
  return n;
}

/**
 * Parses argv with the engine flags plus the command's own; UsageError on anything unknown.
 * `command` names the sub-command in the message's pointer to its --help.
 */
export function parseEngineArgs<T extends Record<string, { type: 'string' | 'boolean' }>>(argv: string[], own: T, command = 'bench') {
  return parseCommandArgs(command, argv, { ...engineFlagSpec, ...own });
}

export function engineFlags(values: Record<string, string | boolean | undefined>): EngineFlags {
  const s = (k: string) => values[k] as string | undefined;
  const sampler: Partial<SamplerOptions> = {};
  const set = <K extends keyof SamplerOptions>(k: K, v: SamplerOptions[K] | undefined) => {
    if (v !== undefined) sampler[k] = v;
  };
  set('guidance', boundedFlag('guidance', s('guidance'), g));
  set('steps', boundedFlag('steps', s('steps'), st));
  set('threshold', boundedFlag('threshold', s('threshold'), FRACTION));
  set('lengthThreshold', boundedFlag('length-threshold', s('length-threshold'), FRACTION));
  set('temperature', boundedFlag('temperature', s('temperature'), te));
  set('seed', boundedFlag('seed', s('seed'), SEED));
  if (values['no-cache'] === true) sampler.cache = false;
  const threads = boundedFlag('threads', s('threads'), th);
  const model = s('model');
  if (model === '') throw new UsageError('--model needs a directory');
  return {
    model: model ?? defaultModelDir(),
    threads: threads === 0 ? undefined : threads,
    sampler,
    contextTokens: boundedFlag('context', s('context'), cx),
  };
}

/** Where the commands print their result; tests swap `write` to capture it without touching process.stdout. */
export const output = {
  write(text: string): void {
    process.stdout.write(text);
  },
};
