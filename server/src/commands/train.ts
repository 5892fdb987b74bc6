// `diffill train`: trains a model with the Python trainer, showing progress in the terminal.
// The work is done by server/training/orchestrator.ts; this file is argument parsing and display.
import type { Command } from '../command';
import { UsageError } from '../command';
import { DEVICES, OBJECTIVES, PRESETS, train, type Budget, type Objective, type Preset, type TrainRequest } from '../../training/orchestrator';
import { deviceFlag, positiveInt, positiveMinutes, seedFlag } from './training-flags';
import { ProgressBar, formatCount, formatDuration } from '../../training/progress-bar';
import { TrainerError } from '../../training/trainer-error';
import { onInterrupts } from './interrupts';
import { parseCommandArgs } from './args';

const USAGE = `Usage: diffill train --preset tiny|small|base --data PATH --out DIR [options]

Trains a masked diffusion model with the Python trainer (PyTorch) and writes a model directory
(config.json, tokenizer.json, model.onnx, model.safetensors, loss.svg, README.md) to DIR.
With --objective arm-fim it trains the autoregressive fill-in-the-middle baseline instead: a causal
model of the same preset on the same data (format diffill-arm), for comparisons.

Options:
  --preset NAME      model size: ${PRESETS.join(', ')}
  --data PATH        packed corpus directory, .tar.xz bundle, or a folder/file of plain text
  --out DIR          model directory to write (written atomically: all or nothing); an existing,
                     non-empty DIR is refused unless --force
  --force            replace DIR when it already holds a model
  --device D         ${DEVICES.join(' | ')} (default auto: CUDA when available)
  --steps N          train for N optimizer steps        } at most one of these;
  --tokens N         train on N tokens                  } default: the preset's
  --minutes M        train for M minutes of wall time   } own budget
  --resume           continue from DIR's checkpoint (DIR.ckpt/, kept by Ctrl-C); an error without one
  --seed S           random seed (default 0)
  --objective O      ${OBJECTIVES.join(' | ')} (default mdm: masked diffusion; arm-fim: next-token loss
                     with fill-in-the-middle rows, a causal model)
  --init DIR         start from this model directory (fine-tuning)
  --facts FILE       fine-tune on facts: each non-empty line is one example
  --python PATH      Python interpreter (default: $DIFFILL_PYTHON, then .venv/bin/python, then python3)

Ctrl-C stops the trainer cleanly (no model is written); press it twice to kill it at once.
The trainer's environment is created with: npm run setup:python`;


/** argv -> a checked TrainRequest; throws UsageError for anything malformed. */
export function parseTrainArgs(argv: string[]): TrainRequest {
  const { values } = parseCommandArgs(
    'train',
    argv,
    {
      preset: { type: 'string' },
      data: { type: 'string' },
      out: { type: 'string' },
      force: { type: 'boolean' },
      device: { type: 'string' },
      steps: { type: 'string' },
      tokens: { type: 'string' },
      minutes: { type: 'string' },
      resume: { type: 'boolean' },
      python: { type: 'string' },
      seed: { type: 'string' },
      objective: { type: 'string' },
      init: { type: 'string' },
      facts: { type: 'string' },
    },
    false,
  );
  if (values.preset === undefined) throw new UsageError(`--preset is required (${PRESETS.join(', ')})`);
  if (!(PRESETS as readonly string[]).includes(values.preset)) throw new UsageError(`unknown preset '${values.preset}' (use ${PRESETS.join(', ')})`);
  if (values.out === undefined) throw new UsageError('--out DIR is required');
  if (values.data === undefined && values.facts === undefined) throw new UsageError('--data PATH is required (or --facts FILE to fine-tune)');
  const device = deviceFlag(values.device);
  const budgets = (['steps', 'tokens', 'minutes'] as const).filter((k) => values[k] !== undefined);
  if (budgets.length > 1) throw new UsageError(`give at most one of --steps, --tokens, --minutes (got ${budgets.map((b) => `--${b}`).join(' and ')})`);
  let budget: Budget | undefined;
  if (values.steps !== undefined) budget = { steps: positiveInt('steps', values.steps) };
  if (values.tokens !== undefined) budget = { tokens: positiveInt('tokens', values.tokens) };
  if (values.minutes !== undefined) budget = { minutes: positiveMinutes(values.minutes) };
  const seed = values.seed !== undefined ? seedFlag(values.seed) : undefined;
  if (values.objective !== undefined && !(OBJECTIVES as readonly string[]).includes(values.objective)) {
    throw new UsageError(`unknown objective '${values.objective}' (use ${OBJECTIVES.join(', ')})`);
  }
  return {
    preset: values.preset as Preset,
    data: values.data,
    out: values.out,
    device,
    budget,
    resume: values.resume === true,
    force: values.force === true,
    seed,
    ...(values.objective !== undefined ? { objective: values.objective as Objective } : {}),
    init: values.init,
    facts: values.facts,
    python: values.python,
  };
}

export const command: Command = {
  name: 'train',
  summary: 'Train a model with the Python trainer (progress bar, Ctrl-C to stop)',
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const request = parseTrainArgs(argv);
    const bar = new ProgressBar(process.stderr);
    const interrupts = onInterrupts((line) => bar.log(line), 'stopping the trainer (it finishes its current step; Ctrl-C again to kill it now)...');
    try {
      const result = await train(request, {
        signal: interrupts.signal,
        forceSignal: interrupts.forceSignal,
        onPython: (p) => bar.log(`python ${p.pythonVersion} (${p.executable}), torch ${p.torchVersion}${p.cudaAvailable ? ', CUDA available' : ''}`),
        onProgress: (event) => bar.handle(event),
      }).finally(() => bar.finish());
      const d = result.done;
      process.stdout.write(
        `model written to ${d.model_dir}: ${d.steps} steps, ${formatCount(d.tokens)} tokens, ` +
          `held-out loss ${d.val_loss === null ? 'n/a' : d.val_loss.toFixed(3)}, ${formatDuration(d.wall_s)}\n`,
      );
      return 0;
    } catch (err) {
      if (err instanceof TrainerError && err.kind === 'cancelled') {
        process.stderr.write(`diffill: ${err.summary}\n`);
        return 130;
      }
      throw err;
    } finally {
      interrupts.dispose();
    }
  },
};
