// `diffill infill --input tasks.jsonl --output out.jsonl`: batch infill of JSON-lines tasks
// ({"task_id","prompt","suffix"}; prompt = the text before the gap), one result line per task.
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Command } from '../command';
import { UsageError } from '../command';
import { loadModel } from '../../engine/index';
import { ENGINE_FLAGS_USAGE, engineFlags, num, parseEngineArgs } from './engine-flags';

const USAGE = `Usage: diffill infill --input TASKS.jsonl [--output OUT.jsonl] [--max-tokens K] [options]

Fills the gap of every task. Input lines: {"task_id", "prompt", "suffix"} (prompt = the text
before the gap). Output lines: {"task_id", "completion", "latency_ms", "forwards", "tokens"}.
--input - reads stdin; without --output the results go to stdout.

  --max-tokens K     canvas size in tokens (the model may use fewer)

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
    throw new UsageError(`input line ${n}: not JSON (${(err as Error).message})`);
  }
  const t = v as Partial<Task>;
  if (typeof t !== 'object' || t === null || (typeof t.task_id !== 'string' && typeof t.task_id !== 'number') || typeof t.prompt !== 'string' || typeof t.suffix !== 'string') {
    throw new UsageError(`input line ${n}: expected {"task_id", "prompt", "suffix"} with string prompt and suffix`);
  }
  return t as Task;
}

export const command: Command = {
  name: 'infill',
  summary: 'Fill the gap of each JSON-lines task (prompt + suffix) with the model',
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parseEngineArgs(argv, {
      input: { type: 'string' },
      output: { type: 'string' },
      'max-tokens': { type: 'string' },
    });
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'\n\n${USAGE}`);
    const input = values.input;
    if (input === undefined) throw new UsageError(`--input is required\n\n${USAGE}`);
    if (input !== '-' && !existsSync(input)) throw new UsageError(`no such file: ${input}`);
    const flags = engineFlags(values);
    const maxTokens = num(values['max-tokens'], 'max-tokens', true);
    const engine = await loadModel(flags.model, flags.threads !== undefined ? { threads: flags.threads } : {});
    const out = values.output !== undefined ? createWriteStream(values.output) : process.stdout;
    try {
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
        if (!out.write(JSON.stringify(row) + '\n')) await new Promise<void>((res) => out.once('drain', () => res()));
      }
    } finally {
      await engine.dispose();
      if (out !== process.stdout) await new Promise<void>((res) => (out as NodeJS.WritableStream).end(res));
    }
    return 0;
  },
};

export default command;
