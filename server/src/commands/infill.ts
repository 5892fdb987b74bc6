// `diffill infill --input tasks.jsonl --output out.jsonl`: batch infill of JSON-lines tasks
// ({"task_id","prompt","suffix"}; prompt = the text before the gap), one result line per task.
import { createReadStream, createWriteStream, openSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Command } from '../command';
import { CommandError, UsageError } from '../command';
import { loadModel } from '../../engine/index';
import { SETTING_BOUNDS } from '../limits';
import { checkWritableFile } from './args';
import { ENGINE_FLAGS_USAGE, engineFlags, maxTokensFlag, parseEngineArgs } from './engine-flags';

const SETTING_MAX_TOKENS = SETTING_BOUNDS.maxTokens.max;

const USAGE = `Usage: diffill infill --input TASKS.jsonl [--output OUT.jsonl] [--max-tokens K] [options]

Fills the gap of every task. Input lines: {"task_id", "prompt", "suffix"} (prompt = the text
before the gap). Output lines: {"task_id", "completion", "latency_ms", "forwards", "tokens"}.
--input - reads stdin; without --output the results go to stdout.

  --max-tokens K     canvas size in tokens (the model may use fewer), 1 to ${SETTING_MAX_TOKENS}; a model
                     without an end token (length_rule "fixed") writes exactly min(K, 16)

${ENGINE_FLAGS_USAGE}`;

interface Task {
  task_id: string | number;
  prompt: string;
  suffix: string;
}

function parseTask(line: string, n: number): Task {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (err) {
    throw new CommandError(`input line ${n}: not JSON (${(err as Error).message})`);
  }
  const t = v as Partial<Task>;
  if (typeof t !== 'object' || t === null || (typeof t.task_id !== 'string' && typeof t.task_id !== 'number') || typeof t.prompt !== 'string' || typeof t.suffix !== 'string') {
    throw new CommandError(`input line ${n}: expected {"task_id", "prompt", "suffix"} with string prompt and suffix`);
  }
  return t as Task;
}

export const command: Command = {
  name: 'infill',
  summary: 'Fill the gap of each JSON-lines task (prompt + suffix) with the model',
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parseEngineArgs(
      argv,
      {
        input: { type: 'string' },
        output: { type: 'string' },
        'max-tokens': { type: 'string' },
      },
      'infill',
    );
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}' (see diffill infill --help)`);
    const input = values.input;
    if (input === undefined) throw new UsageError('--input is required (see diffill infill --help)');
    const flags = engineFlags(values);
    const maxTokens = maxTokensFlag(values['max-tokens']);
    if (input !== '-') {
      const stat = statSync(input, { throwIfNoEntry: false });
      if (stat === undefined) throw new CommandError(`--input ${input}: no such file`);
      if (!stat.isFile()) throw new CommandError(`--input ${input}: not a file`);
    }
    // The output path is checked before the model loads, so a wrong path costs nothing (and an
    // existing file is not truncated by a run that cannot start); a write error later (a full disk)
    // ends the run with one line instead of an unhandled stream error.
    if (values.output !== undefined) checkWritableFile('output', values.output);
    let out: NodeJS.WritableStream = process.stdout;
    let writeError: NodeJS.ErrnoException | null = null;
    const failed = () => (writeError !== null ? new CommandError(`--output ${values.output}: cannot write (${writeError.code ?? writeError.message})`) : null);
    const engine = await loadModel(flags.model, flags.threads !== undefined ? { threads: flags.threads } : {});
    try {
      if (values.output !== undefined) {
        let fd: number;
        try {
          fd = openSync(values.output, 'w');
        } catch (err) {
          throw new CommandError(`--output ${values.output}: cannot write (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
        }
        const file = createWriteStream('', { fd });
        file.on('error', (err) => {
          writeError = err;
        });
        out = file;
      }
      const lines = createInterface({ input: input === '-' ? process.stdin : createReadStream(input), crlfDelay: Infinity });
      let n = 0;
      for await (const line of lines) {
        n++;
        if (line.trim() === '') continue;
        const task = parseTask(line, n);
        const r = await engine.infill({
          prefix: task.prompt,
          suffix: task.suffix,
          sampler: flags.sampler,
          ...(maxTokens !== undefined ? { maxTokens } : {}),
          ...(flags.contextTokens !== undefined ? { context: { maxContextTokens: flags.contextTokens } } : {}),
        });
        const row = { task_id: task.task_id, completion: r.text, latency_ms: Math.round(r.latencyMs * 100) / 100, forwards: r.forwards, tokens: r.tokens };
        if (!out.write(JSON.stringify(row) + '\n')) {
          await new Promise<void>((res) => {
            out.once('drain', res);
            out.once('error', res);
          });
        }
        const err = failed();
        if (err !== null) throw err;
      }
    } finally {
      await engine.dispose();
      if (out !== process.stdout && writeError === null) await new Promise<void>((res) => out.end(res));
    }
    const err = failed();
    if (err !== null) throw err;
    return 0;
  },
};

export default command;
