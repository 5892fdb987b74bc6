// Training as an async call: `diffill train`, `diffill finetune` and the language server all use
// train(). It checks what can be checked before spending minutes (paths, Python, torch), runs the
// trainer child process, reports progress through a callback, and either resolves with the
// trainer's `done` summary or rejects with one TrainerError. It never exits the process or prints.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../common/paths';
import { checkPython, findPython, trainerDir, type PythonCheck } from './python';
import { runTrainer, type TrainerEvent, type TrainerRun } from './trainer-process';
import { TrainerError } from './trainer-error';

export const PRESETS = ['tiny', 'small', 'base'] as const;
export type Preset = (typeof PRESETS)[number];
export const DEVICES = ['auto', 'cpu', 'cuda'] as const;
export type Device = (typeof DEVICES)[number];
/** mdm: the masked diffusion model; arm-fim: its autoregressive fill-in-the-middle baseline (same presets and data). */
export const OBJECTIVES = ['mdm', 'arm-fim'] as const;
export type Objective = (typeof OBJECTIVES)[number];

/**
 * How long to train; absent = the preset's default. `until` is a deadline (epoch milliseconds) for the
 * end of training, so that the interpreter's start and the data loading come out of the same time.
 */
export type Budget = { steps: number } | { tokens: number } | { minutes: number } | { until: number };

export interface TrainRequest {
  preset: Preset;
  /** Packed corpus dir, .tar.xz bundle, or a folder/file of plain text. */
  data?: string | undefined;
  /** Model directory to write (the trainer writes it atomically). */
  out: string;
  device?: Device | undefined;
  budget?: Budget | undefined;
  resume?: boolean | undefined;
  /** Replace `out` when it already holds files (a model); without it such an `out` is refused. */
  force?: boolean | undefined;
  seed?: number | undefined;
  /** What is trained (default mdm, the trainer's own default). */
  objective?: Objective | undefined;
  /** Fine-tune: start from this model directory. */
  init?: string | undefined;
  /** Fine-tune on facts: each non-empty line of this file is one example. */
  facts?: string | undefined;
  tokenizer?: string | undefined;
  /** Interpreter chosen by the user (--python / an editor setting). */
  python?: string | undefined;
  /** Further trainer flags (e.g. --batch-size 8), passed through as given. */
  extraArgs?: readonly string[] | undefined;
}

export interface TrainHooks {
  signal?: AbortSignal;
  /** Every protocol event (start, step, eval, checkpoint, export, done, error). */
  onProgress?: (event: TrainerEvent) => void;
  /** Human-readable trainer output, line by line. */
  onLog?: (line: string, stream: 'stderr' | 'stdout') => void;
  /** Called once the interpreter has been checked (before the trainer starts). */
  onPython?: (check: PythonCheck) => void;
  env?: NodeJS.ProcessEnv;
  /** Package root (default: found from this file); holds .venv and server/training/python. */
  root?: string;
  /** SIGTERM -> SIGKILL grace period on cancel. */
  killGraceMs?: number;
  /** Kills the trainer at once (SIGKILL) when aborted. */
  forceSignal?: AbortSignal;
  /** The interpreter, already checked by the caller (its check is not repeated; onPython is not called). */
  checkedPython?: PythonCheck;
}

export interface TrainResult extends TrainerRun {
  python: PythonCheck;
  args: string[];
}

/** The trainer command line for a request (paths made absolute, so the child's cwd is irrelevant). */
export function buildTrainerArgs(req: TrainRequest, cwd = process.cwd()): string[] {
  const abs = (p: string) => path.resolve(cwd, p);
  const args = ['--preset', req.preset, '--out', abs(req.out)];
  if (req.data !== undefined) args.push('--data', abs(req.data));
  if (req.device !== undefined) args.push('--device', req.device);
  if (req.budget !== undefined) {
    if ('steps' in req.budget) args.push('--steps', String(req.budget.steps));
    else if ('tokens' in req.budget) args.push('--tokens', String(req.budget.tokens));
    else if ('until' in req.budget) args.push('--until', (req.budget.until / 1000).toFixed(3));
    else args.push('--minutes', String(req.budget.minutes));
  }
  if (req.resume) args.push('--resume');
  if (req.force) args.push('--force');
  if (req.seed !== undefined) args.push('--seed', String(req.seed));
  if (req.objective !== undefined) args.push('--objective', req.objective);
  if (req.init !== undefined) args.push('--init', abs(req.init));
  if (req.facts !== undefined) args.push('--facts', abs(req.facts));
  if (req.tokenizer !== undefined) args.push('--tokenizer', abs(req.tokenizer));
  if (req.extraArgs !== undefined) args.push(...req.extraArgs);
  return args;
}

/**
 * Checks the request before anything is started: a wrong path should cost a second, not the
 * minute it takes to import torch. Throws TrainerError kind bad_data / bad_arguments.
 */
export function checkTrainRequest(req: TrainRequest, cwd = process.cwd()): void {
  const bad = (kind: 'bad_data' | 'bad_arguments', msg: string): never => {
    throw new TrainerError(kind, msg);
  };
  if (!(PRESETS as readonly string[]).includes(req.preset)) bad('bad_arguments', `unknown preset '${req.preset}' (use ${PRESETS.join(', ')})`);
  if (req.device !== undefined && !(DEVICES as readonly string[]).includes(req.device)) {
    bad('bad_arguments', `unknown device '${req.device}' (use ${DEVICES.join(', ')})`);
  }
  if (req.objective !== undefined && !(OBJECTIVES as readonly string[]).includes(req.objective)) {
    bad('bad_arguments', `unknown objective '${req.objective}' (use ${OBJECTIVES.join(', ')})`);
  }
  if (req.data === undefined && req.facts === undefined) bad('bad_arguments', 'no training data: give --data (or --facts to fine-tune)');
  const stat = (p: string) => {
    try {
      return fs.statSync(path.resolve(cwd, p));
    } catch {
      return undefined;
    }
  };
  if (req.data !== undefined && stat(req.data) === undefined) bad('bad_data', `--data ${req.data}: no such file or directory`);
  if (req.facts !== undefined && !stat(req.facts)?.isFile()) bad('bad_data', `--facts ${req.facts}: not a file`);
  if (req.init !== undefined && !stat(req.init)?.isDirectory()) bad('bad_data', `--init ${req.init}: not a model directory`);
  if (req.tokenizer !== undefined && !stat(req.tokenizer)?.isFile()) bad('bad_data', `--tokenizer ${req.tokenizer}: not a file`);
  const out = stat(req.out);
  if (out !== undefined && !out.isDirectory()) bad('bad_arguments', `--out ${req.out} exists and is not a directory`);
  // The trainer checks the same (diffill_trainer/train.py); here it costs no Python start-up.
  if (out !== undefined && !req.force && fs.readdirSync(path.resolve(cwd, req.out)).length > 0) {
    bad('bad_arguments', `--out ${req.out} already exists and is not empty; pass --force to replace it`);
  }
  if (req.resume) {
    const outAbs = path.resolve(cwd, req.out);
    const ckpt = path.join(path.dirname(outAbs), `${path.basename(outAbs)}.ckpt`);
    if (!stat(path.join(ckpt, 'state.pt'))?.isFile()) bad('bad_arguments', `--resume: no checkpoint at ${ckpt} to continue from; run without --resume to start afresh`);
  }
  const budget = req.budget;
  if (budget !== undefined) {
    const [name, value] = Object.entries(budget)[0] as [string, number];
    const ok = name === 'minutes' || name === 'until' ? Number.isFinite(value) && value > 0 : Number.isInteger(value) && value > 0;
    if (!ok) bad('bad_arguments', `--${name} must be a positive ${name === 'minutes' ? 'number' : 'integer'}, got ${value}`);
  }
  if (req.seed !== undefined && !(Number.isInteger(req.seed) && req.seed >= 0)) bad('bad_arguments', `--seed must be a non-negative integer, got ${req.seed}`);
}

/** Runs one training (or fine-tuning) job to completion. */
export async function train(req: TrainRequest, hooks: TrainHooks = {}): Promise<TrainResult> {
  const env = hooks.env ?? process.env;
  const root = hooks.root ?? packageRoot();
  checkTrainRequest(req);
  let python = hooks.checkedPython;
  if (python === undefined) {
    const choice = findPython({ explicit: req.python, env, root });
    python = await checkPython(choice, { env, cwd: trainerDir(root), ...(hooks.signal ? { signal: hooks.signal } : {}) });
    hooks.onPython?.(python);
  }
  const args = buildTrainerArgs(req);
  const run = await runTrainer({
    python: python.executable,
    args,
    pythonPath: trainerDir(root),
    env,
    ...(hooks.signal ? { signal: hooks.signal } : {}),
    ...(hooks.killGraceMs !== undefined ? { killGraceMs: hooks.killGraceMs } : {}),
    ...(hooks.forceSignal ? { forceSignal: hooks.forceSignal } : {}),
    ...(hooks.onProgress ? { onEvent: hooks.onProgress } : {}),
    ...(hooks.onLog ? { onLog: hooks.onLog } : {}),
  });
  return { ...run, python, args };
}
