// `diffill finetune`: fine-tunes the served model on a workspace's own text (or a facts file) and
// installs it as the workspace's active model. The job is server/training/finetune.ts; this file is
// argument parsing and terminal display (the same progress bar as `diffill train`).
import { accessSync, constants, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { Command } from '../command';
import { CommandError, UsageError } from '../command';
import { defaultModelDir } from '../../common/paths';
import { finetune, FinetuneError, type FinetuneRequest } from '../../training/finetune';
import { dataSection } from '../../training/finetune-report';
import { defaultStoreRoot, ModelStore } from '../../training/model-store';
import { DEVICES } from '../../training/orchestrator';
import { deviceFlag, positiveInt, positiveMinutes, seedFlag } from './training-flags';
import { ProgressBar, formatDuration } from '../../training/progress-bar';
import { TrainerError } from '../../training/trainer-error';
import { onInterrupts } from './interrupts';
import { boundedFlag, parseCommandArgs } from './args';

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
  --minutes M        wall time of the whole job (default 10): collecting the data, training, measuring
                     the base and the fine-tuned model, exporting and installing. The base model is
                     measured first and timed; training stops early enough for the rest to fit, and a
                     limit too short to train at all is refused with the minutes it would take
  --steps N          train for N optimizer steps instead (the job then takes as long as it takes)
  --device D         ${DEVICES.join(' | ')} (default auto: CUDA with bf16 when available)
  --python PATH      Python interpreter (default: $DIFFILL_PYTHON, then .venv/bin/python, then python3)
  --facts FILE       facts mode: each non-empty line of FILE is one training example
  --batch-size B     sequences per step (default: the trainer's)
  --seq-len L        tokens per training window, 2 to the base model's max_position (512 for the
                     shipped model); default: the base model's training length, at most 512.
                     Not with --facts (facts set their own length)
  --lr X             peak learning rate, above 0 and at most 1 (default: 0.3x the preset's rate;
                     facts usually want about 1e-3)
  --seed S           random seed (default 0)

Prints the report's path; it holds the before/after held-out loss and infill exact match, the loss
curve and the data summary. The trainer's environment is created with: npm run setup:python`;

/** --minutes when neither it nor --steps is given: the whole job's wall time. */
export const DEFAULT_JOB_MINUTES = 10;

export interface FinetuneArgs {
  request: Omit<FinetuneRequest, 'base'> & { base?: string | undefined };
  out: string | undefined;
}


export function parseFinetuneArgs(argv: string[]): FinetuneArgs {
  const { values } = parseCommandArgs(
    'finetune',
    argv,
    {
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
      lr: { type: 'string' },
      seed: { type: 'string' },
    },
    false,
  );
  if (values.workspace === undefined) throw new UsageError('--workspace DIR is required (see diffill finetune --help)');
  if (values.steps !== undefined && values.minutes !== undefined) throw new UsageError('give at most one of --steps and --minutes');
  if (values['seq-len'] !== undefined && values.facts !== undefined) throw new UsageError('--seq-len does not apply with --facts (each fact is one window)');
  const device = deviceFlag(values.device);
  const steps = values.steps !== undefined ? { steps: positiveInt('steps', values.steps) } : undefined;
  const jobMinutes = steps === undefined ? (values.minutes !== undefined ? positiveMinutes(values.minutes) : DEFAULT_JOB_MINUTES) : undefined;
  const seed = values.seed !== undefined ? seedFlag(values.seed) : undefined;
  // The upper end depends on the base model; parseFinetuneArgs checks the form, run() the bound.
  const seqLen = boundedFlag('seq-len', values['seq-len'], { min: 2, max: Number.MAX_SAFE_INTEGER, integer: true });
  const lr = boundedFlag('lr', values.lr, { min: 0, max: 1, integer: false });
  if (lr === 0) throw new UsageError(`--lr must be above 0 (got '${values.lr}')`);
  return {
    request: {
      workspace: path.resolve(values.workspace),
      base: values.base !== undefined ? path.resolve(values.base) : undefined,
      budget: steps,
      jobMinutes,
      device,
      python: values.python,
      facts: values.facts !== undefined ? path.resolve(values.facts) : undefined,
      batchSize: values['batch-size'] !== undefined ? positiveInt('batch-size', values['batch-size']) : undefined,
      seqLen,
      lr,
      seed,
    },
    out: values.out !== undefined ? path.resolve(values.out) : undefined,
  };
}

/** The base model's max_position (config.json), or null when it cannot be read (finetune reports that). */
async function maxPosition(base: string): Promise<number | null> {
  try {
    const cfg = JSON.parse(await readFile(path.join(base, 'config.json'), 'utf8')) as { architecture?: { max_position?: unknown } };
    const max = cfg.architecture?.max_position;
    return typeof max === 'number' && Number.isInteger(max) ? max : null;
  } catch {
    return null;
  }
}

export const command: Command = {
  name: 'finetune',
  summary: 'Fine-tune the model on a workspace (or a facts file) and make it the active model',
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const { request, out } = parseFinetuneArgs(argv);
    if (!existsSync(request.workspace)) throw new CommandError(`--workspace ${request.workspace} does not exist`);
    const root = out ?? (await defaultStoreRoot(request.workspace));
    const store = await ModelStore.open(root, { baseModelDir: defaultModelDir(), workspace: request.workspace });
    // The job writes its scratch files and the new version here: a read-only store fails now, in
    // one line, not after the training.
    try {
      accessSync(store.root, constants.W_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'not writable';
      throw new CommandError(`the model store ${store.root} is not writable (${code}); ${out === undefined ? 'choose another with --out DIR' : 'choose another --out'}`);
    }
    const active = await store.active();
    const base = request.base ?? active.dir ?? defaultModelDir();
    if (request.seqLen !== undefined) {
      const max = await maxPosition(base);
      if (max !== null && request.seqLen > max) {
        throw new UsageError(`--seq-len must be from 2 to ${max}, the base model's max_position (got '${request.seqLen}')`);
      }
    }
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
      if (err instanceof FinetuneError && err.kind === 'over_budget') throw new CommandError(`--minutes: ${err.message}`);
      throw err;
    } finally {
      interrupts.dispose();
    }
  },
};
