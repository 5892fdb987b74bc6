// Options shared by the commands that run the model (infill, fill, before, bench): parsed once here so
// every command spells and checks them the same way.
import { parseArgs } from 'node:util';
import { UsageError } from '../command';
import { defaultModelDir } from '../paths';
import type { SamplerOptions } from '../../engine/api';

export const ENGINE_FLAGS_USAGE = `Model and sampler options:
  --model DIR        model directory (default: the bundled models/default)
  --guidance W       classifier-free guidance strength (0 = off)
  --steps N          most forwards per request
  --threshold X      commit every token at least this confident per step (1 = one per step)
  --length-threshold X  decide the answer's length on the first forward at this P([PAD]) (0 = off)
  --temperature T    0 = greedy; > 0 samples
  --seed S           random seed for sampling
  --threads T        inference threads (default: all CPUs)
  --no-cache         exact full recompute every step (no context K/V cache)
  --context N        context token budget around the gap`;

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

export interface EngineFlags {
  model: string;
  threads: number | undefined;
  sampler: Partial<SamplerOptions>;
  contextTokens: number | undefined;
}

export function num(value: string | undefined, name: string, integer = false): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    throw new UsageError(`--${name} expects ${integer ? 'an integer' : 'a number'} (got '${value}')`);
  }
  return n;
}

/** Parses argv with the engine flags plus the command's own; UsageError on anything unknown. */
export function parseEngineArgs<T extends Record<string, { type: 'string' | 'boolean' }>>(argv: string[], own: T) {
  try {
    return parseArgs({ args: argv, options: { ...engineFlagSpec, ...own }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export function engineFlags(values: Record<string, string | boolean | undefined>): EngineFlags {
  const s = (k: string) => values[k] as string | undefined;
  const sampler: Partial<SamplerOptions> = {};
  const set = <K extends keyof SamplerOptions>(k: K, v: SamplerOptions[K] | undefined) => {
    if (v !== undefined) sampler[k] = v;
  };
  set('guidance', num(s('guidance'), 'guidance'));
  set('steps', num(s('steps'), 'steps', true));
  set('threshold', num(s('threshold'), 'threshold'));
  set('lengthThreshold', num(s('length-threshold'), 'length-threshold'));
  set('temperature', num(s('temperature'), 'temperature'));
  set('seed', num(s('seed'), 'seed', true));
  if (values['no-cache'] === true) sampler.cache = false;
  const threads = num(s('threads'), 'threads', true);
  if (threads !== undefined && threads < 1) throw new UsageError('--threads must be at least 1');
  return { model: s('model') ?? defaultModelDir(), threads, sampler, contextTokens: num(s('context'), 'context', true) };
}

/** Where the commands print their result; tests swap `write` to capture it without touching process.stdout. */
export const output = {
  write(text: string): void {
    process.stdout.write(text);
  },
};
