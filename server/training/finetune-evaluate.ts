// Held-out evaluation of one model directory on one data set, through the trainer package's
// `python -m diffill_trainer.evaluate_cli` (JSON on stdout). Fine-tuning evaluates the base model and
// the candidate with the same call, so both are measured on the same held-out slice with the same
// draws: the comparison that decides whether the candidate is installed.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { trainerSpawnOptions } from './python';
import type { InfillExact } from './trainer-process';

export interface EvaluationRequest {
  python: string;
  /** Model directories, measured one after the other in one interpreter. */
  models: readonly string[];
  /** The data the trainer read (--data), or the facts file (--facts). */
  data: { data: string } | { facts: string };
  seqLen: number;
  windows: number;
  cases: number;
  device: 'auto' | 'cpu' | 'cuda';
  /** Folder holding the diffill_trainer package. */
  pythonPath: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

export interface Evaluation {
  model: string;
  /** Nats per token, masked CE weighted 1/t on the fixed t grid (docs/model-format.md). */
  valLoss: number;
  infillExact: InfillExact | null;
  seqLen: number;
  windows: number;
  valTokens: number;
}

/** The evaluation could not run or failed; `kind` is the Python side's error kind when it gave one. */
export class EvaluationError extends Error {
  override readonly name = 'EvaluationError';
  constructor(
    message: string,
    readonly kind: string,
    readonly lastLines: readonly string[] = [],
  ) {
    super(message);
  }
}

/** Evaluates every model of the request; resolves in the same order. */
export function evaluateModels(req: EvaluationRequest): Promise<Evaluation[]> {
  const args = ['-m', 'diffill_trainer.evaluate_cli', ...req.models.flatMap((m) => ['--model', path.resolve(m)])];
  const what = req.models.join(', ');
  if ('facts' in req.data) args.push('--facts', path.resolve(req.data.facts));
  else args.push('--data', path.resolve(req.data.data));
  args.push('--seq-len', String(req.seqLen), '--windows', String(req.windows), '--cases', String(req.cases), '--device', req.device);
  // In the trainer's own folder, not this process's working directory (see trainerSpawnOptions).
  const { cwd, env } = trainerSpawnOptions(req.pythonPath, req.env ?? process.env);
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    const child = spawn(req.python, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], ...(req.signal ? { signal: req.signal } : {}) });
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => {
      // Only the tail matters for an error message; keep memory bounded on a chatty failure.
      stderr = (stderr + d.toString('utf8')).slice(-8192);
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.name === 'AbortError') reject(new EvaluationError('the evaluation was cancelled', 'cancelled'));
      else reject(new EvaluationError(`cannot run Python '${req.python}' for the evaluation: ${err.message}`, 'missing_python'));
    });
    child.on('close', (code, signal) => {
      if (req.signal?.aborted) {
        reject(new EvaluationError('the evaluation was cancelled', 'cancelled'));
        return;
      }
      const lastLines = stderr.trim().split('\n').filter(Boolean).slice(-10);
      const answers: Array<Record<string, unknown>> = [];
      for (const line of stdout.split('\n')) {
        if (!line.trim().startsWith('{')) continue;
        try {
          answers.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // not one of our lines
        }
      }
      const failed = answers.find((a) => typeof a['error'] === 'string');
      if (failed !== undefined) {
        reject(new EvaluationError(`evaluating ${what} failed: ${String(failed['error'])}`, String(failed['kind'] ?? 'internal'), lastLines));
        return;
      }
      if (code !== 0 || answers.length !== req.models.length || answers.some((a) => typeof a['val_loss'] !== 'number')) {
        const how = signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
        reject(new EvaluationError(`evaluating ${what} failed: the evaluator ${how}`, 'crashed', lastLines));
        return;
      }
      resolve(
        answers.map((a, i) => ({
          model: req.models[i]!,
          valLoss: a['val_loss'] as number,
          infillExact: (a['infill_exact'] as InfillExact | null) ?? null,
          seqLen: Number(a['seq_len']),
          windows: Number(a['windows']),
          valTokens: Number(a['val_tokens']),
        })),
      );
    });
  });
}
