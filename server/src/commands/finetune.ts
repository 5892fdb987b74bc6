// `diffill finetune`: fine-tunes the served model on a workspace's own text (or a facts file) and
// installs it as the workspace's active model. The job is server/training/finetune.ts; this file is
// argument parsing and terminal display (the same progress bar as `diffill train`).
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { Command } from '../command';
import { UsageError } from '../command';
import { defaultModelDir } from '../paths';
import { finetune, FinetuneError, type FinetuneRequest } from '../../training/finetune';
import { dataSection } from '../../training/finetune-report';
import { defaultStoreRoot, ModelStore } from '../../training/model-store';
import { DEVICES, type Budget } from '../../training/orchestrator';
import { deviceFlag, positiveInt, positiveMinutes, seedFlag } from './training-flags';
import { ProgressBar, formatDuration } from '../../training/progress-bar';
import { TrainerError } from '../../training/trainer-error';
import { onInterrupts } from './interrupts';

const USAGE = `Usage: diffill finetune --workspace DIR [options]

Fine-tunes a model on the workspace's own text files (respecting .gitignore; binary, generated,
minified and huge files are skipped), checks that it is better on held-out files than the model it
started from and that the engine runs it, then installs it as the workspace's active model. The
previous model stays installed; a failure or Ctrl-C leaves the active model unchanged.

Options:
  --workspace DIR    the folder whose text is the training data (required)
  --base DIR         model to start from (default: the workspace's active model, else models/default)
  --out DIR          the model store for this workspace (default: ~/.diffill/workspaces/<hash>/);
                     may not lie inside the workspace
  --steps N          train for N optimizer steps      } at most one;
  --minutes M        train for M minutes of wall time } default: 10 minutes
  --device D         ${DEVICES.join(' | ')} (default auto: CUDA with bf16 when available)
  --python PATH      Python interpreter (default: $DIFFILL_PYTHON, then .venv/bin/python, then python3)
  --facts FILE       facts mode: each non-empty line of FILE is one training example
  --batch-size B     sequences per step (default: the trainer's)
  --seq-len L        tokens per training window (default: the base model's, at most 512)
  --seed S           random seed (default 0)

Prints the report's path; it holds the before/after held-out loss and infill exact match, the loss
curve and the data summary. The trainer's environment is created with: npm run setup:python`;

export interface FinetuneArgs {
  request: Omit<FinetuneRequest, 'base'> & { base?: string | undefined };
  out: string | undefined;
}


export function parseFinetuneArgs(argv: string[]): FinetuneArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      allowPositionals: false,
      options: {
        workspace: { type: 'string' },
        base: { type: 'string' },
        out: { type: 'string' },
        steps: { type: 'string' },
        minutes: { type: 'string' },
        device: { type: 'string' },
        python: { type: 'string' },
        facts: { type: 'string' },
        'batch-size': { type: 'string' },
        'seq-len': { type: 'string' },
        seed: { type: 'string' },
      },
    }));
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${USAGE}`);
  }
  if (values.workspace === undefined) throw new UsageError('finetune: --workspace DIR is required');
  if (values.steps !== undefined && values.minutes !== undefined) throw new UsageError('finetune: give at most one of --steps and --minutes');
  const device = deviceFlag(values.device, 'finetune: ');
  let budget: Budget = { minutes: 10 };
  if (values.steps !== undefined) budget = { steps: positiveInt('steps', values.steps) };
  if (values.minutes !== undefined) budget = { minutes: positiveMinutes(values.minutes) };
  const seed = values.seed !== undefined ? seedFlag(values.seed) : undefined;
  return {
    request: {
      workspace: path.resolve(values.workspace),
      base: values.base !== undefined ? path.resolve(values.base) : undefined,
      budget,
      device,
      python: values.python,
      facts: values.facts !== undefined ? path.resolve(values.facts) : undefined,
      batchSize: values['batch-size'] !== undefined ? positiveInt('batch-size', values['batch-size']) : undefined,
      seqLen: values['seq-len'] !== undefined ? positiveInt('seq-len', values['seq-len']) : undefined,
      seed,
    },
    out: values.out !== undefined ? path.resolve(values.out) : undefined,
  };
}

export const command: Command = {
  name: 'finetune',
  summary: 'Fine-tune the model on a workspace (or a facts file) and make it the active model',
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const { request, out } = parseFinetuneArgs(argv);
    if (!existsSync(request.workspace)) throw new UsageError(`finetune: --workspace ${request.workspace} does not exist`);
    const root = out ?? (await defaultStoreRoot(request.workspace));
    const store = await ModelStore.open(root, { baseModelDir: defaultModelDir(), workspace: request.workspace });
    const active = await store.active();
    const base = request.base ?? active.dir ?? defaultModelDir();
    const bar = new ProgressBar(process.stderr);
    bar.log(`model store: ${root}`);
    bar.log(`base model: ${base}`);
    const interrupts = onInterrupts((line) => bar.log(line), 'stopping (the trainer finishes its current step; Ctrl-C again to kill it now)...');
    try {
      const result = await finetune({ ...request, base }, store, {
        signal: interrupts.signal,
        forceSignal: interrupts.forceSignal,
        onPhase: (phase, message) => {
          if (phase !== 'train') bar.log(`${message}...`);
        },
        onData: (summary) => {
          bar.log('data:');
          for (const line of dataSection(summary)) bar.log(`  ${line}`);
        },
        onPython: (p) => bar.log(`python ${p.pythonVersion} (${p.executable}), torch ${p.torchVersion}${p.cudaAvailable ? ', CUDA available' : ''}`),
        onProgress: (event) => bar.handle(event),
      }).finally(() => bar.finish());
      const exact = (x: Record<string, unknown> | null) => (typeof x?.['oracle'] === 'number' ? ` (infill exact ${(x['oracle'] * 100).toFixed(1)}%)` : '');
      process.stdout.write(
        [
          `fine-tuned model installed as ${result.version.id}${result.active.source === 'store' && result.active.id === result.version.id ? ' (active)' : ''}`,
          `  held-out loss: base ${result.baseEval.valLoss.toFixed(4)}${exact(result.baseEval.infillExact)} -> ` +
            `fine-tuned ${result.candidateEval.valLoss.toFixed(4)}${exact(result.candidateEval.infillExact)}`,
          `  ${result.trainer.done.steps} steps in ${formatDuration(result.trainer.done.wall_s)}`,
          `  model: ${result.version.dir}`,
          `  report: ${result.reportPath}`,
          '',
        ].join('\n'),
      );
      return 0;
    } catch (err) {
      const cancelled = (err instanceof TrainerError || err instanceof FinetuneError) && err.kind === 'cancelled';
      if (cancelled) {
        process.stderr.write(`diffill: ${err.message}\n`);
        return 130;
      }
      throw err;
    } finally {
      interrupts.dispose();
    }
  },
};
