// `diffill fill FILE`: fills every blank of a document jointly and prints the filled document.
import type { Command } from '../command';
import { UsageError } from '../command';
import { SETTING_BOUNDS } from '../limits';
import { LONG_FORM_FACTOR } from '../lsp/fill-blanks';
import { loadModel, findBlanks, applyFills } from '../../engine/index';
import { ENGINE_FLAGS_USAGE, engineFlags, maxTokensFlag, output, parseEngineArgs } from './engine-flags';
import { readTextFile } from './text-file';

const USAGE = `Usage: diffill fill FILE [--pattern REGEX] [--max-tokens K] [options]

Fills every blank of FILE jointly (each fill sees the others) and prints the filled document.
Blanks are runs of 3 or more underscores unless --pattern gives another regular expression.

  --pattern REGEX    what a blank looks like (default: _{3,})
  --max-tokens K     canvas size per blank in tokens, 1 to ${SETTING_BOUNDS.maxTokens.max * LONG_FORM_FACTOR}
                     (a model without an end token, length_rule "fixed": fills of 1, 2, 4, 8
                     and 16 tokens, up to K, are tried)

${ENGINE_FLAGS_USAGE}`;

export const command: Command = {
  name: 'fill',
  summary: 'Fill every blank (___) of a document jointly and print the result',
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parseEngineArgs(argv, { pattern: { type: 'string' }, 'max-tokens': { type: 'string' } }, 'fill');
    if (positionals.length !== 1) throw new UsageError(`expected one FILE, got ${positionals.length} (see diffill fill --help)`);
    const flags = engineFlags(values);
    // The same room per blank as the editor's Fill Blanks allows.
    const maxTokensPerBlank = maxTokensFlag(values['max-tokens'], LONG_FORM_FACTOR);
    const file = positionals[0]!;
    const text = readTextFile(file, 'fill works on text files');
    let blanks;
    try {
      blanks = findBlanks(text, values.pattern);
    } catch (err) {
      throw new UsageError(`--pattern: ${(err as Error).message}`);
    }
    if (blanks.length === 0) {
      process.stderr.write(`diffill: no blanks in ${file}\n`);
      output.write(text);
      return 0;
    }
    const engine = await loadModel(flags.model, flags.threads !== undefined ? { threads: flags.threads } : {});
    try {
      const r = await engine.fill({
        text,
        blanks,
        sampler: flags.sampler,
        ...(maxTokensPerBlank !== undefined ? { maxTokensPerBlank } : {}),
        ...(flags.contextTokens !== undefined ? { context: { maxContextTokens: flags.contextTokens } } : {}),
      });
      output.write(applyFills(text, blanks, r.fills));
    } finally {
      await engine.dispose();
    }
    return 0;
  },
};

export default command;
