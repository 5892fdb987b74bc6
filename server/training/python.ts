// Finding the Python interpreter that runs the trainer, and checking it can (torch importable)
// before a run starts, so a missing environment is one clear message instead of a traceback.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../common/paths';
import { TrainerError } from './trainer-error';

/** The one command that creates the trainer's environment (see README). */
export const SETUP_COMMAND = 'npm run setup:python';
export const SETUP_COMMAND_EXPANDED =
  'python3 -m venv .venv && .venv/bin/pip install -r server/training/python/requirements.txt';

export type PythonSource = 'flag' | 'env' | 'venv' | 'path';

export interface PythonChoice {
  executable: string;
  /** Where the choice came from: --python, DIFFILL_PYTHON, <root>/.venv, or python3 on PATH. */
  source: PythonSource;
}

export interface FindPythonOptions {
  /** --python (or the editor's setting): wins over everything. */
  explicit?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Package root, whose .venv is tried third. */
  root: string;
}

/**
 * Picks the interpreter: --python > DIFFILL_PYTHON > <root>/.venv/bin/python > python3. A path
 * (anything with a separator) is made absolute against this process's working directory: the
 * interpreter itself runs in the trainer's folder (see trainerSpawnOptions).
 */
export function findPython(opts: FindPythonOptions): PythonChoice {
  const env = opts.env ?? process.env;
  const absolute = (p: string) => (p.includes('/') || p.includes(path.sep) ? path.resolve(p) : p);
  if (opts.explicit) return { executable: absolute(opts.explicit), source: 'flag' };
  const fromEnv = env['DIFFILL_PYTHON'];
  if (fromEnv) return { executable: absolute(fromEnv), source: 'env' };
  const venv = process.platform === 'win32' ? path.join(opts.root, '.venv', 'Scripts', 'python.exe') : path.join(opts.root, '.venv', 'bin', 'python');
  if (fs.existsSync(venv)) return { executable: venv, source: 'venv' };
  return { executable: process.platform === 'win32' ? 'python' : 'python3', source: 'path' };
}

/** The folder holding the trainer package (`diffill_trainer`). */
export function trainerDir(root: string = packageRoot()): string {
  return path.join(root, 'server', 'training', 'python');
}

/**
 * How every interpreter the trainer needs is started (the probe, the trainer, the evaluator).
 * Python puts a folder first on its import path: the working directory for `-m` and `-c`. Started
 * from a repository, `import json` would run the repository's own json.py. So the child always
 * runs in `dir`, the folder that holds the module it runs (the trainer's own package folder),
 * whatever this process's working directory is; it is also prepended to PYTHONPATH for the
 * processes the trainer may start itself. `-I` would also keep the working directory off the
 * path, but it drops the user's site-packages too, where PyTorch may be installed.
 * ORT_DISABLE_TELEMETRY: see server/engine/ort-env.ts (the trainer's package sets it as well).
 */
export function trainerSpawnOptions(dir: string, base: NodeJS.ProcessEnv = process.env): { cwd: string; env: NodeJS.ProcessEnv } {
  return {
    cwd: dir,
    env: {
      ...base,
      PYTHONPATH: [dir, base['PYTHONPATH']].filter(Boolean).join(path.delimiter),
      // Events must arrive as they happen, not when a block buffer fills.
      PYTHONUNBUFFERED: '1',
      ORT_DISABLE_TELEMETRY: '1',
    },
  };
}

export interface PythonCheck {
  executable: string;
  pythonVersion: string;
  torchVersion: string;
  cudaAvailable: boolean;
}

// Prints one JSON line either way; an ImportError is an answer, not a crash.
const PROBE = [
  'import json, sys',
  'out = {"python": sys.version.split()[0]}',
  'try:',
  '    import torch',
  '    out["torch"] = torch.__version__',
  '    out["cuda"] = bool(torch.cuda.is_available())',
  'except Exception as e:',
  '    out["error"] = f"{type(e).__name__}: {e}"',
  'print(json.dumps(out))',
].join('\n');

const PROBE_TIMEOUT_MS = 120_000;

function setupHint(choice: PythonChoice): string {
  const where = choice.source === 'path' ? '' : ` (chosen from ${describe(choice.source)})`;
  return `${where}. Create the trainer's environment with: ${SETUP_COMMAND}  (runs: ${SETUP_COMMAND_EXPANDED}), or pass --python / set DIFFILL_PYTHON to an interpreter that has torch`;
}

function describe(source: PythonSource): string {
  return { flag: '--python', env: 'DIFFILL_PYTHON', venv: 'the .venv folder', path: 'PATH' }[source];
}

/**
 * Starts the interpreter and imports torch; throws TrainerError (missing_python / missing_dependency).
 * It runs in `cwd` (default: the trainer's folder), never in this process's working directory.
 */
export async function checkPython(choice: PythonChoice, opts: { env?: NodeJS.ProcessEnv; signal?: AbortSignal; cwd?: string } = {}): Promise<PythonCheck> {
  const { code, stdout, stderr, spawnError } = await runProbe(choice.executable, opts.env ?? process.env, opts.cwd ?? trainerDir(), opts.signal);
  if (opts.signal?.aborted) throw new TrainerError('cancelled', 'cancelled before training started');
  if (spawnError !== undefined) {
    throw new TrainerError('missing_python', `cannot run Python '${choice.executable}': ${spawnError}${setupHint(choice)}`);
  }
  let answer: { python?: string; torch?: string; cuda?: boolean; error?: string } | undefined;
  try {
    answer = JSON.parse(stdout.trim().split('\n').pop() ?? '') as typeof answer;
  } catch {
    answer = undefined;
  }
  const lastLines = stderr.trim().split('\n').filter(Boolean).slice(-10);
  if (answer === undefined || code !== 0) {
    throw new TrainerError('missing_python', `'${choice.executable}' did not run as a Python 3 interpreter (exit ${code})${setupHint(choice)}`, { lastLines });
  }
  if (answer.torch === undefined) {
    throw new TrainerError(
      'missing_dependency',
      `PyTorch cannot be imported by '${choice.executable}' (${answer.error ?? 'unknown error'})${setupHint(choice)}`,
      { lastLines },
    );
  }
  return { executable: choice.executable, pythonVersion: answer.python ?? '?', torchVersion: answer.torch, cudaAvailable: answer.cuda === true };
}

function runProbe(
  executable: string,
  env: NodeJS.ProcessEnv,
  cwd: string,
  signal: AbortSignal | undefined,
): Promise<{ code: number | null; stdout: string; stderr: string; spawnError?: string }> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let settled = false;
    const child = spawn(executable, ['-c', PROBE], { cwd, env: { ...env, ORT_DISABLE_TELEMETRY: '1' }, stdio: ['ignore', 'pipe', 'pipe'], signal });
    // Our own timer rather than spawn's `timeout` option, which is not cleared when the spawn
    // itself fails and would then keep the event loop alive for the whole timeout.
    const timer = setTimeout(() => child.kill('SIGKILL'), PROBE_TIMEOUT_MS);
    const settle = (result: { code: number | null; stdout: string; stderr: string; spawnError?: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', (err: NodeJS.ErrnoException) => {
      settle({ code: null, stdout, stderr, spawnError: err.code === 'ENOENT' ? 'no such file or command' : err.message });
    });
    child.on('close', (code) => settle({ code, stdout, stderr }));
  });
}
