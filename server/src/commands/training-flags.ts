// Checks for the flags `diffill train` and `diffill finetune` share, so both commands accept and
// reject the same spellings with the same messages.
import { UsageError } from '../command';
import { DEVICES, type Device } from '../../training/orchestrator';

/** A positive integer; exponent notation is accepted because token budgets are naturally `1e6`. */
export function positiveInt(flag: string, value: string): number {
  const n = Number(value);
  if (!/^\s*[0-9.e+]+\s*$/i.test(value) || !Number.isInteger(n) || n <= 0) throw new UsageError(`--${flag} needs a positive integer, got '${value}'`);
  return n;
}

export function positiveMinutes(value: string): number {
  const m = Number(value);
  if (value.trim() === '' || !Number.isFinite(m) || m <= 0) throw new UsageError(`--minutes needs a positive number, got '${value}'`);
  return m;
}

export function seedFlag(value: string): number {
  const seed = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(seed)) throw new UsageError(`--seed needs a non-negative integer, got '${value}'`);
  return seed;
}

export function deviceFlag(value: string | undefined, prefix = ''): Device | undefined {
  if (value !== undefined && !(DEVICES as readonly string[]).includes(value)) {
    throw new UsageError(`${prefix}unknown device '${value}' (use ${DEVICES.join(', ')})`);
  }
  return value as Device | undefined;
}
