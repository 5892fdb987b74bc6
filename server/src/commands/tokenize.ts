// `diffill tokenize FILE`: how many tokens a file is, how dense the tokenizer is on it, and how fast
// the TypeScript tokenizer encodes it (measured here, on this machine).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from '../command';
import { CommandError, UsageError } from '../command';
import { defaultModelDir } from '../../common/paths';
import { Tokenizer } from '../../engine/tokenizer';
import { parseCommandArgs } from './args';
import { readTextFile } from './text-file';

export { InputFileError, readTextFile } from './text-file';

const USAGE = `Usage: diffill tokenize FILE [--model DIR] [--json]

Prints the token count of FILE, its characters per token, and the encode throughput
(tokens/second) of the tokenizer measured on FILE.

Options:
  --model DIR   model directory (its config.json names the tokenizer) or a tokenizer.json file
                (default: the bundled models/default)
  --json        one JSON object instead of text`;

/** Throughput is the mean over as many repeats as fill this much time (after one warm-up run). */
const MEASURE_MS = 300;

/** Resolves --model (a model directory or a tokenizer file) to the tokenizer.json path. */
export function tokenizerPathFor(model: string): string {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(model);
  } catch {
    throw new CommandError(`model not found: ${model}`);
  }
  if (stat.isFile()) return model;
  const configPath = path.join(model, 'config.json');
  if (fs.existsSync(configPath)) {
    let name: unknown;
    try {
      name = (JSON.parse(fs.readFileSync(configPath, 'utf8')) as { tokenizer?: unknown }).tokenizer;
    } catch (err) {
      throw new CommandError(`cannot read ${configPath}: ${(err as Error).message}`);
    }
    if (typeof name === 'string') return path.join(model, name);
  }
  return path.join(model, 'tokenizer.json');
}

function countCodePoints(text: string): number {
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

export interface TokenizeReport {
  file: string;
  tokenizer: string;
  bytes: number;
  characters: number;
  tokens: number;
  chars_per_token: number;
  tokens_per_second: number;
  runs: number;
  encode_ms: number;
}

/** Tokenizes `text` and measures the encode throughput of `tok` on it. */
export function measure(tok: Tokenizer, text: string): Pick<TokenizeReport, 'tokens' | 'tokens_per_second' | 'runs' | 'encode_ms'> {
  const tokens = tok.encode(text).length; // warm-up run: JIT and the piece cache
  let runs = 0;
  const start = process.hrtime.bigint();
  let elapsedMs = 0;
  do {
    tok.encode(text);
    runs++;
    elapsedMs = Number(process.hrtime.bigint() - start) / 1e6;
  } while (elapsedMs < MEASURE_MS);
  const perRunMs = elapsedMs / runs;
  return { tokens, runs, encode_ms: perRunMs, tokens_per_second: perRunMs > 0 ? (tokens / perRunMs) * 1000 : 0 };
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export const command: Command = {
  name: 'tokenize',
  summary: 'Tokenize a file: token count, characters per token, tokens/second',
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const parsed = parseCommandArgs('tokenize', argv, { model: { type: 'string' }, json: { type: 'boolean', default: false } });
    const [file, ...extra] = parsed.positionals;
    if (file === undefined) throw new UsageError('missing FILE (see diffill tokenize --help)');
    if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}' (see diffill tokenize --help)`);

    const tokenizerPath = tokenizerPathFor(parsed.values.model ?? defaultModelDir());
    const text = readTextFile(file, 'only text files can be tokenized');
    const tok = Tokenizer.fromFile(tokenizerPath);
    const m = measure(tok, text);
    const characters = countCodePoints(text);
    const report: TokenizeReport = {
      file,
      tokenizer: tokenizerPath,
      bytes: Buffer.byteLength(text, 'utf8'),
      characters,
      chars_per_token: m.tokens > 0 ? characters / m.tokens : 0,
      ...m,
    };
    if (parsed.values.json) {
      process.stdout.write(JSON.stringify(report) + '\n');
    } else {
      process.stdout.write(
        `${file}: ${fmt(report.tokens)} tokens, ${fmt(characters)} characters, ` +
          `${fmt(report.chars_per_token, 2)} characters/token\n` +
          `encode: ${fmt(report.tokens_per_second)} tokens/s (${report.runs} run${report.runs === 1 ? '' : 's'}, ${fmt(report.encode_ms, 2)} ms each)\n`,
      );
    }
    return 0;
  },
};

export default command;
