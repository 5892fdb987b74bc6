// `diffill before FILE --line N`: writes what should come before line N given everything after it.
import { readFileSync } from 'node:fs';
import type { Command } from '../command';
import { UsageError } from '../command';
import { loadModel } from '../../engine/index';
import { ENGINE_FLAGS_USAGE, engineFlags, num, output, parseEngineArgs } from './engine-flags';

const USAGE = `Usage: diffill before FILE --line N [--max-tokens K] [options]

Prints the text to insert before line N (1-based) of FILE, written from what follows it
(and the lines above, as context).

  --line N           the anchor line (1-based)
  --max-tokens K     most tokens to write

${ENGINE_FLAGS_USAGE}`;

/** Character offset where 1-based line `line` starts; the end of the text for one past the last line. */
export function lineOffset(text: string, line: number): number {
  let at = 0;
  for (let n = 1; n < line; n++) {
    const nl = text.indexOf('\n', at);
    if (nl === -1) {
      if (n === line - 1 && !text.endsWith('\n')) return text.length;
      throw new UsageError(`--line ${line} is past the end of the file`);
    }
    at = nl + 1;
  }
  return at;
}

export const command: Command = {
  name: 'before',
  summary: 'Write what comes before line N of a file, given what follows',
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parseEngineArgs(argv, { line: { type: 'string' }, 'max-tokens': { type: 'string' } });
    if (positionals.length !== 1) throw new UsageError(`expected one FILE\n\n${USAGE}`);
    const line = num(values.line, 'line', true);
    if (line === undefined || line < 1) throw new UsageError(`--line N (1-based) is required\n\n${USAGE}`);
    const file = positionals[0]!;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
    }
    const at = lineOffset(text, line);
    const flags = engineFlags(values);
    const maxTokens = num(values['max-tokens'], 'max-tokens', true);
    const engine = await loadModel(flags.model, flags.threads !== undefined ? { threads: flags.threads } : {});
    try {
      const r = await engine.before({
        prefix: text.slice(0, at),
        suffix: text.slice(at),
        sampler: flags.sampler,
        ...(maxTokens !== undefined ? { maxTokens } : {}),
        ...(flags.contextTokens !== undefined ? { context: { maxContextTokens: flags.contextTokens } } : {}),
      });
      output.write(r.text);
    } finally {
      await engine.dispose();
    }
    return 0;
  },
};

export default command;
