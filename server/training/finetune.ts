// Fine-tuning a model on a workspace (or on a facts file), end to end, as one async call used by
// `diffill finetune` and by the language server:
//
//   collect the workspace's text -> train from the base model (the trainer, through train()) ->
//   evaluate base and candidate on the same held-out slice -> the candidate must be better ->
//   it must load and answer in our engine -> write the report -> install it atomically in the store.
//
// Everything a job writes lives in one scratch folder inside the store root, named like the store's
// own temp entries (`finetune.tmp-<pid>-<hex>`), so it is removed when the job ends however it ends,
// and by the store's recovery should the whole process die. Until the install's final rename the
// store, and so the served model, is untouched: a cancel, a crash, a kill -9 of the trainer, a full
// disk or a corrupt candidate all end in a typed error with the active model unchanged.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { packageRoot } from '../common/paths';
import { evaluateModels, EvaluationError, type Evaluation } from './finetune-evaluate';
import { probeCandidate, probeFromText, type ProbeResult } from './finetune-probe';
import { renderReport, REPORT_FILE } from './finetune-report';
import { modelDirProblem } from './model-dir';
import type { ActiveModel, ModelStore, ModelVersion } from './model-store';
import { PRESETS, train, type Budget, type Device, type Preset, type TrainResult } from './orchestrator';
import { checkPython, findPython, trainerDir, type PythonCheck } from './python';
import type { TrainerEvent } from './trainer-process';
import { collectWorkspaceData, loadTokenCounter, type FilesExclude, type WorkspaceDataSummary } from './workspace-data';

export type FinetuneErrorKind =
  | 'bad_request' // a path or option is unusable
  | 'not_better' // the candidate's held-out loss is not below the base model's: nothing installed
  | 'probe_failed' // the candidate does not load or answer in the engine
  | 'evaluation_failed' // the held-out evaluation could not run
  | 'over_budget' // the job's time limit (jobMinutes) leaves no time to train
  | 'cancelled';

export class FinetuneError extends Error {
  override readonly name = 'FinetuneError';
  constructor(
    readonly kind: FinetuneErrorKind,
    message: string,
    readonly lastLines: readonly string[] = [],
  ) {
    super(lastLines.length > 0 ? `${message}\nlast lines of the output:\n${lastLines.map((l) => `  | ${l}`).join('\n')}` : message);
  }
}

export interface FinetuneRequest {
  /** The workspace folder: its text is the training data (unless `facts`), and the store belongs to it. */
  workspace: string;
  /** The model to start from (a model directory). */
  base: string;
  budget?: Budget | undefined;
  /**
   * Wall-time limit of the whole job in minutes, in place of `budget`: data, training, evaluation,
   * checks and installation. The base model is evaluated first and timed; training ends early enough
   * for the candidate's evaluation (about as long), the export and the install to fit.
   */
  jobMinutes?: number | undefined;
  device?: Device | undefined;
  /** Interpreter chosen by the user; absent: DIFFILL_PYTHON, the package's .venv, python3. */
  python?: string | undefined;
  /** Facts mode: each non-empty line of this file is one training example (the workspace is not read). */
  facts?: string | undefined;
  /** VS Code's files.exclude for the workspace. */
  filesExclude?: FilesExclude | undefined;
  /** Training and evaluation window (default: the base model's, at most 512). */
  seqLen?: number | undefined;
  batchSize?: number | undefined;
  /** Peak learning rate (default: the trainer's fine-tuning rate, 0.3x the preset's). */
  lr?: number | undefined;
  seed?: number | undefined;
  /** Held-out windows per noise level and single-line infill cases of the before/after evaluation. */
  evalWindows?: number | undefined;
  evalCases?: number | undefined;
  /** Make the installed model the active one (default true). */
  activate?: boolean | undefined;
}

export type FinetunePhase = 'data' | 'train' | 'evaluate' | 'verify' | 'install';

/**
 * With a whole-job limit: the time kept after training for the export of the candidate (ONNX, int8,
 * verification; about 30 s on a busy 2-core CPU) and for the engine's check and the install.
 */
export const AFTER_TRAINING_ALLOWANCE_MS = 60_000;
/** With a whole-job limit, less training time than this is refused instead of started. */
export const MIN_TRAINING_MS = 15_000;

export interface FinetuneHooks {
  signal?: AbortSignal;
  /** Kills the trainer at once (SIGKILL). */
  forceSignal?: AbortSignal;
  killGraceMs?: number;
  onPhase?: (phase: FinetunePhase, message: string) => void;
  /** The trainer's protocol events (start, step, eval, export, done, error). */
  onProgress?: (event: TrainerEvent) => void;
  onLog?: (line: string, stream: 'stderr' | 'stdout') => void;
  onPython?: (check: PythonCheck) => void;
  onData?: (summary: WorkspaceDataSummary) => void;
  /** The job's scratch folder, once made (the trainer's --out lies inside it). */
  onJobDir?: (dir: string) => void;
  env?: NodeJS.ProcessEnv;
  /** Package root (holds .venv and server/training/python). */
  root?: string;
}

/** What a finished job measured; also what the report is made of. */
export interface FinetuneOutcome {
  workspace: string;
  baseModel: string;
  /** config.json `name` of the candidate. */
  modelName: string;
  facts: string | null;
  data: WorkspaceDataSummary | null;
  trainer: TrainResult;
  baseEval: Evaluation;
  candidateEval: Evaluation;
  probe: ProbeResult;
}

export interface FinetuneResult extends FinetuneOutcome {
  version: ModelVersion;
  /** The markdown report inside the installed version. */
  reportPath: string;
  active: ActiveModel;
}

interface BaseConfig {
  preset?: unknown;
  name?: unknown;
  tokenizer?: unknown;
  weights?: { dtype?: unknown };
  onnx?: { quantized?: unknown };
  training?: { seq_len?: unknown } | null;
}

async function readBaseConfig(base: string): Promise<BaseConfig> {
  const problem = await modelDirProblem(base);
  if (problem !== null) throw new FinetuneError('bad_request', `the base model ${base} is not usable: ${problem}`);
  return JSON.parse(await readFile(path.join(base, 'config.json'), 'utf8')) as BaseConfig;
}

function modelNameFor(workspace: string, facts: boolean): string {
  const stamp = new Date().toISOString().slice(0, 16).replace(/[-:]/g, '').replace('T', '-');
  const ws = path.basename(workspace).replace(/[^A-Za-z0-9._-]+/g, '-') || 'workspace';
  return `${ws}-${facts ? 'facts' : 'ft'}-${stamp}`;
}

/** Runs one fine-tuning job into `store`; see the file comment for the guarantees. */
export async function finetune(req: FinetuneRequest, store: ModelStore, hooks: FinetuneHooks = {}): Promise<FinetuneResult> {
  const started = Date.now();
  const signal = hooks.signal;
  const deadline = req.jobMinutes !== undefined ? started + req.jobMinutes * 60_000 : undefined;
  const workspace = path.resolve(req.workspace);
  const base = path.resolve(req.base);
  const facts = req.facts !== undefined ? path.resolve(req.facts) : undefined;
  if (!(await stat(workspace).catch(() => null))?.isDirectory()) throw new FinetuneError('bad_request', `the workspace ${workspace} is not a folder`);
  if (facts !== undefined && !(await stat(facts).catch(() => null))?.isFile()) throw new FinetuneError('bad_request', `the facts file ${facts} is not a file`);
  const cfg = await readBaseConfig(base);
  const baseSeqLen = typeof cfg.training?.seq_len === 'number' ? cfg.training.seq_len : 256;
  const seqLen = req.seqLen ?? Math.min(baseSeqLen, 512);
  const preset: Preset = (PRESETS as readonly unknown[]).includes(cfg.preset) ? (cfg.preset as Preset) : 'small';
  const modelName = modelNameFor(workspace, facts !== undefined);

  const jobDir = path.join(store.root, `finetune.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await mkdir(jobDir, { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new FinetuneError('bad_request', `cannot write in the model store ${store.root} (${code}); choose a writable one`);
  }
  hooks.onJobDir?.(jobDir);
  try {
    // ---- data
    let data: WorkspaceDataSummary | null = null;
    let dataDir: string | null = null;
    let probeText = '';
    if (facts === undefined) {
      hooks.onPhase?.('data', `collecting the text of ${workspace}`);
      const tokenizer = path.join(base, typeof cfg.tokenizer === 'string' ? cfg.tokenizer : 'tokenizer.json');
      const collected = await collectWorkspaceData(workspace, {
        outDir: path.join(jobDir, 'data'),
        countTokens: loadTokenCounter(tokenizer),
        ...(req.filesExclude ? { filesExclude: req.filesExclude } : {}),
        ...(signal ? { signal } : {}),
      });
      data = collected.summary;
      dataDir = collected.dir;
      hooks.onData?.(data);
      const held = collected.files.find((f) => f.split === 'val') ?? collected.files[0];
      if (held !== undefined) probeText = await readFile(path.join(collected.dir, held.dataPath), 'utf8');
    } else {
      probeText = (await readFile(facts, 'utf8')).split('\n').find((l) => l.trim() !== '') ?? '';
    }

    // ---- held-out evaluation, the same for the base and the candidate
    const evalDevice = req.device === 'cpu' ? 'cpu' : 'auto';
    const evaluate = (python: string, models: string[], evalSignal: AbortSignal | undefined, cuda: boolean): Promise<Evaluation[]> =>
      evaluateModels({
        python,
        models,
        data: facts !== undefined ? { facts } : { data: dataDir! },
        seqLen: facts !== undefined ? 64 : seqLen,
        windows: req.evalWindows ?? (cuda ? 128 : 16),
        cases: facts !== undefined ? 0 : (req.evalCases ?? (cuda ? 64 : 8)),
        device: evalDevice,
        pythonPath: path.join(hooks.root ?? packageRoot(), 'server', 'training', 'python'),
        ...(hooks.env ? { env: hooks.env } : {}),
        ...(evalSignal ? { signal: evalSignal } : {}),
      }).catch((err: unknown) => {
        if (err instanceof EvaluationError) throw new FinetuneError(err.kind === 'cancelled' ? 'cancelled' : 'evaluation_failed', err.message, err.lastLines);
        throw err;
      });

    // ---- with a whole-job limit: the base is measured first, and its time plans the rest
    let budget = req.budget;
    let baseEval: Evaluation | undefined;
    let checked: PythonCheck | undefined;
    if (deadline !== undefined) {
      hooks.onPhase?.('evaluate', 'measuring the base model on the held-out files (its time plans the training time)');
      const over = AbortSignal.timeout(Math.max(1, deadline - Date.now()));
      const evalStarted = Date.now();
      const env = hooks.env ?? process.env;
      const root = hooks.root ?? packageRoot();
      checked = await checkPython(findPython({ explicit: req.python, env, root }), { env, cwd: trainerDir(root), ...(signal ? { signal } : {}) });
      hooks.onPython?.(checked);
      try {
        [baseEval] = await evaluate(checked.executable, [base], signal ? AbortSignal.any([signal, over]) : over, checked.cudaAvailable && evalDevice === 'auto');
      } catch (err) {
        if (over.aborted && !signal?.aborted) {
          throw new FinetuneError('over_budget', `the ${req.jobMinutes}-minute limit ran out while measuring the base model; give more minutes (or a step budget)`);
        }
        throw err;
      }
      const evalMs = Date.now() - evalStarted;
      const until = deadline - evalMs - AFTER_TRAINING_ALLOWANCE_MS;
      if (until - Date.now() < MIN_TRAINING_MS) {
        const need = Math.ceil((Date.now() - started + 2 * evalMs + AFTER_TRAINING_ALLOWANCE_MS + 2 * MIN_TRAINING_MS) / 60_000);
        throw new FinetuneError(
          'over_budget',
          `a ${req.jobMinutes}-minute limit leaves no time to train: evaluating one model took ${Math.round(evalMs / 1000)} s here ` +
            `(the base now, the fine-tuned model after training), plus about ${AFTER_TRAINING_ALLOWANCE_MS / 1000} s to export and install; ` +
            `give at least ${need} minutes`,
        );
      }
      budget = { until };
    }

    // ---- training (the trainer writes its candidate atomically inside the job folder)
    hooks.onPhase?.('train', `fine-tuning ${path.basename(base)}`);
    const candidate = path.join(jobDir, 'candidate');
    const extraArgs = [
      '--name', modelName,
      '--weights-dtype', cfg.weights?.dtype === 'float32' || cfg.weights?.dtype === 'bfloat16' ? cfg.weights.dtype : 'float16',
      cfg.onnx?.quantized === false ? '--no-quantize' : '--quantize',
      '--checkpoint-minutes', '1000000', // a job is not resumed: no periodic checkpoints to write
      // The job measures base and candidate itself (below); the trainer's own end-of-run check is
      // kept to one window without infill cases, which on a CPU saves minutes.
      '--eval-windows', '1',
      '--eval-cases', '0',
    ];
    if (facts === undefined) extraArgs.push('--seq-len', String(seqLen));
    if (req.batchSize !== undefined) extraArgs.push('--batch-size', String(req.batchSize));
    if (req.lr !== undefined) extraArgs.push('--lr', String(req.lr));
    const trainer = await train(
      {
        preset,
        ...(facts !== undefined ? { facts } : { data: dataDir! }),
        out: candidate,
        init: base,
        device: req.device ?? 'auto',
        budget,
        seed: req.seed,
        python: req.python,
        extraArgs,
      },
      {
        ...(signal ? { signal } : {}),
        ...(hooks.forceSignal ? { forceSignal: hooks.forceSignal } : {}),
        ...(hooks.killGraceMs !== undefined ? { killGraceMs: hooks.killGraceMs } : {}),
        ...(hooks.onProgress ? { onProgress: hooks.onProgress } : {}),
        ...(hooks.onLog ? { onLog: hooks.onLog } : {}),
        ...(hooks.onPython && checked === undefined ? { onPython: hooks.onPython } : {}),
        ...(checked !== undefined ? { checkedPython: checked } : {}),
        ...(hooks.env ? { env: hooks.env } : {}),
        ...(hooks.root ? { root: hooks.root } : {}),
      },
    );

    // ---- before/after on the same held-out slice, measured by the same code
    hooks.onPhase?.('evaluate', baseEval === undefined ? 'measuring the base and the fine-tuned model on the held-out files' : 'measuring the fine-tuned model on the held-out files');
    const cuda = trainer.python.cudaAvailable && evalDevice === 'auto';
    const py = trainer.python.executable;
    let candidateEval: Evaluation | undefined;
    if (baseEval === undefined) [baseEval, candidateEval] = await evaluate(py, [base, candidate], signal, cuda);
    else [candidateEval] = await evaluate(py, [candidate], signal, cuda);
    if (baseEval === undefined || candidateEval === undefined) throw new FinetuneError('evaluation_failed', 'the evaluator measured fewer models than asked');
    if (!(candidateEval.valLoss < baseEval.valLoss)) {
      throw new FinetuneError(
        'not_better',
        `the fine-tuned model is not better on the held-out files (loss ${candidateEval.valLoss.toFixed(4)} vs ` +
          `${baseEval.valLoss.toFixed(4)} for the base model), so it was not installed; try a longer budget or more data`,
      );
    }

    // ---- our engine must load it and answer
    hooks.onPhase?.('verify', 'checking that the engine loads and runs the fine-tuned model');
    const probe = await probeCandidate(candidate, probeFromText(probeText), signal).catch((err: unknown) => {
      if (err instanceof Error && err.name === 'ProbeError') throw new FinetuneError('probe_failed', err.message);
      throw err;
    });

    // ---- report + atomic install
    hooks.onPhase?.('install', 'installing the fine-tuned model');
    const outcome: FinetuneOutcome = {
      workspace,
      baseModel: base,
      modelName,
      facts: facts ?? null,
      data,
      trainer,
      baseEval,
      candidateEval,
      probe,
    };
    await writeFile(path.join(candidate, REPORT_FILE), renderReport(outcome), 'utf8');
    if (signal?.aborted) throw new FinetuneError('cancelled', 'fine-tuning was cancelled; the model in use is unchanged');
    const version = await store.install(candidate, {
      move: true,
      activate: req.activate ?? true,
      meta: {
        name: modelName,
        base,
        facts: facts ?? null,
        steps: trainer.done.steps,
        tokens: trainer.done.tokens,
        baseValLoss: baseEval.valLoss,
        valLoss: candidateEval.valLoss,
        baseInfillExact: baseEval.infillExact,
        infillExact: candidateEval.infillExact,
        data: data === null ? null : { files: data.files, trainFiles: data.trainFiles, valFiles: data.valFiles, tokens: data.tokens },
      },
      ...(signal ? { signal } : {}),
    });
    return { ...outcome, version, reportPath: path.join(version.dir, REPORT_FILE), active: await store.active() };
  } catch (err) {
    // One answer for a cancel, whichever step it interrupted.
    if (signal?.aborted && !(err instanceof FinetuneError && err.kind === 'cancelled')) {
      const trainerMsg = err instanceof Error && err.name === 'TrainerError' ? `: ${(err as Error & { summary: string }).summary}` : '';
      throw new FinetuneError('cancelled', `fine-tuning was cancelled${trainerMsg}; the model in use is unchanged`);
    }
    throw err;
  } finally {
    await rm(jobDir, { recursive: true, force: true }).catch(() => undefined);
  }
}
