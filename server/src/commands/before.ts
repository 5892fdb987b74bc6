// `diffill before FILE --line N`: writes what should come before line N given everything after it.
import type { Command } from '../command';
import { UsageError } from '../command';
import { SETTING_BOUNDS } from '../limits';
import { LONG_FORM_FACTOR } from '../lsp/fill-blanks';
import { loadModel } from '../../engine/index';
import { boundedFlag } from './args';
import { ENGINE_FLAGS_USAGE, engineFlags, maxTokensFlag, output, parseEngineArgs } from './engine-flags';
import { readTextFile } from './text-file';

const USAGE = `Usage: diffill before FILE --line N [--max-tokens K] [options]

Prints the text to insert before line N (1-based) of FILE, written from what follows it
(and the lines above, as context). N may be one past the last line: the end of the file.
When the model's answer is empty (it judged that nothing belongs there), nothing is printed
and a note on stderr says so.

  --line N           the anchor line (1-based)
  --max-tokens K     most tokens to write, 1 to ${SETTING_BOUNDS.maxTokens.max * LONG_FORM_FACTOR} (default 64; a model without
                     an end token, length_rule "fixed", writes exactly min(K, 16))

${ENGINE_FLAGS_USAGE}`;

/** How many lines `text` has (a final line break does not start another line). */
function lineCount(text: string): number {
  if (text === '') return 0;
  const breaks = text.split('\n').length - 1;
  return text.endsWith('\n') ? breaks : breaks + 1;
}

/** Character offset where 1-based line `line` starts; the end of the text for one past the last line. */
export function lineOffset(text: string, line: number, file = 'the file'): number {
  const lines = lineCount(text);
  if (!Number.isInteger(line) || line < 1 || line > lines + 1) {
    throw new UsageError(`--line ${line} is out of range: ${file} has ${lines} line${lines === 1 ? '' : 's'}, so N is 1 to ${lines + 1} (${lines + 1} = the end)`);
  }
  let at = 0;
  for (let n = 1; n < line; n++) {
    const nl = text.indexOf('\n', at);
    if (nl === -1) return text.length;
    at = nl + 1;
  }
  return at;
}

export const command: Command = {
  name: 'before',
  summary: 'Write what comes before line N of a file, given what follows',
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parseEngineArgs(argv, { line: { type: 'string' }, 'max-tokens': { type: 'string' } }, 'before');
    if (positionals.length !== 1) throw new UsageError(`expected one FILE, got ${positionals.length} (see diffill before --help)`);
    if (values.line === undefined) throw new UsageError('--line N is required: the line to write before (see diffill before --help)');
    // Any integer passes here; whether it is a line of the file is checked against the file.
    const line = boundedFlag('line', values.line, { min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER, integer: true })!;
    const flags = engineFlags(values);
    const maxTokens = maxTokensFlag(values['max-tokens'], LONG_FORM_FACTOR);
    const file = positionals[0]!;
    const text = readTextFile(file, 'before works on text files');
    const at = lineOffset(text, line, file);
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
      if (r.text === '') {
        // An empty answer is the model's: it ended the answer at once (its [PAD]), or wrote only a
        // line break, which the answer's scope drops. Printing nothing without a word looked like a
        // failure.
        process.stderr.write(
          `diffill: nothing to write before line ${line}: the model's answer was empty (it judged that nothing belongs there); ` +
            'another line, a larger --max-tokens or --temperature above 0 may give one\n',
        );
      }
    } finally {
      await engine.dispose();
    }
    return 0;
  },
};

export default command;
