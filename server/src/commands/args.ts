// Command-line parsing shared by every sub-command: node:util's parseArgs, with its messages turned
// into one line that names the flag as typed, negative numbers accepted after a flag (`--seed -1`
// reaches the value check instead of Node's "ambiguous" text), and number checks that say the range.
import { accessSync, constants, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { CommandError, UsageError } from '../command';
import type { Bound } from '../limits';

type OptionSpec = Record<string, { type: 'string' | 'boolean'; default?: string | boolean }>;

/**
 * `--flag VALUE` where VALUE starts with one dash (`-5`, `-{3,}`) becomes `--flag=VALUE`, which
 * parseArgs takes as the value; a following `--option` stays an option, so a forgotten value is still
 * reported as missing. Arguments after `--` are left alone.
 */
export function attachDashValues(argv: readonly string[], options: OptionSpec): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const next = argv[i + 1];
    const name = arg.startsWith('--') && !arg.includes('=') ? arg.slice(2) : undefined;
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && /^-[^-]/.test(next) && next !== '-h') {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** parseArgs' error as one line in the user's words. */
function describeParseError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const message = e.message ?? String(err);
  const quoted = /'(-[^' ]*)/.exec(message)?.[1];
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option '${quoted ?? message}'`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument '${/'([^']*)'/.exec(message)?.[1] ?? message}'`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/does not take an argument/.test(message)) return `${quoted} takes no value`;
      return `${quoted ?? 'an option'} needs a value`;
    default:
      return message.split('\n')[0]!;
  }
}

/**
 * Parses argv for `diffill <command>`; every problem is a UsageError of one line ending with where
 * the options are listed.
 */
export function parseCommandArgs<T extends OptionSpec>(command: string, argv: readonly string[], options: T, allowPositionals = true) {
  try {
    return parseArgs({ args: attachDashValues(argv, options), options, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError(`${describeParseError(err)} (see diffill ${command} --help)`);
  }
}

function rangeText(bound: Bound): string {
  return `${bound.integer ? 'an integer' : 'a number'} from ${bound.min} to ${bound.max}`;
}

/** The value of `--flag` as a number within `bound`; undefined when the flag was not given. */
export function boundedFlag(flag: string, value: string | undefined, bound: Bound): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || (bound.integer && !Number.isInteger(n)) || n < bound.min || n > bound.max) {
    throw new UsageError(`--${flag} must be ${rangeText(bound)} (got '${value}')`);
  }
  return n;
}

/**
 * Checks, before any work, that `file` can be written: an existing file that is writable, or a new
 * name in an existing, writable folder. A failed check is a CommandError naming the flag.
 */
export function checkWritableFile(flag: string, file: string): void {
  const fail = (why: string): never => {
    throw new CommandError(`--${flag} ${file}: ${why}`);
  };
  let stat;
  try {
    stat = statSync(file);
  } catch {
    stat = undefined;
  }
  if (stat?.isDirectory()) fail('is a folder; give a file name');
  const target = stat !== undefined ? file : dirname(file);
  if (stat === undefined) {
    let folder;
    try {
      folder = statSync(target);
    } catch {
      fail(`the folder ${target} does not exist`);
    }
    if (!folder!.isDirectory()) fail(`${target} is not a folder`);
  }
  try {
    accessSync(target, constants.W_OK);
  } catch {
    fail(stat !== undefined ? 'the file is not writable' : `the folder ${target} is not writable`);
  }
}
