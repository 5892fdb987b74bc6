// The tiny trained model the engine tests run on, made by the project's own trainer
// (`python -m diffill_trainer.fixtures tiny OUT`). It is built once and cached under test/.cache/,
// keyed by a hash of the trainer sources and the tokenizer, so a trainer change rebuilds it.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '..', '..');
export const TRAINER_DIR = join(ROOT, 'server', 'training', 'python');
const CACHE = join(ROOT, 'test', '.cache');

/** The project's Python (its virtualenv), or DIFFILL_PYTHON. */
export function python(): string {
  const env = process.env['DIFFILL_PYTHON'];
  if (env) return env;
  const venv = join(ROOT, '.venv', 'bin', 'python');
  return existsSync(venv) ? venv : 'python3';
}

/** The fixture corpus the trainer uses by default; until it exists, the repository's docs are the text. */
function fixtureData(): string[] {
  return existsSync(join(ROOT, 'test', 'fixtures', 'corpus')) ? [] : ['--data', join(ROOT, 'docs')];
}

function trainerHash(): string {
  const h = createHash('sha256');
  h.update(fixtureData().join(' '));
  const pkg = join(TRAINER_DIR, 'diffill_trainer');
  for (const f of readdirSync(pkg).filter((n) => n.endsWith('.py')).sort()) {
    h.update(f).update(readFileSync(join(pkg, f)));
  }
  const tok = join(ROOT, 'models', 'default', 'tokenizer.json');
  if (existsSync(tok)) h.update(readFileSync(tok));
  return h.digest('hex').slice(0, 16);
}

/** Runs the trainer package's Python with `args`; returns stdout. */
export function runTrainer(args: string[], input?: string): string {
  return execFileSync(python(), args, {
    cwd: TRAINER_DIR,
    input,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    env: { ...process.env, PYTHONPATH: TRAINER_DIR, OMP_NUM_THREADS: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Runs `build` unless `dir` appears meanwhile, holding a lock directory so that test files started in
 * parallel build a model once instead of each training its own copy.
 */
function buildOnce(dir: string, build: () => void): void {
  const lock = `${dir}.lock`;
  for (;;) {
    if (existsSync(join(dir, 'config.json'))) return;
    try {
      mkdirSync(lock);
      break;
    } catch {
      // Someone else is building. A lock older than 15 minutes is left over from a killed run.
      try {
        if (Date.now() - statSync(lock).mtimeMs > 15 * 60_000) rmSync(lock, { recursive: true, force: true });
      } catch {
        // the lock vanished between the two calls: try again
      }
      sleepSync(500);
    }
  }
  try {
    if (!existsSync(join(dir, 'config.json'))) build();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** Directory of the cached tiny fp32 model, built on first use. */
export function tinyModelDir(): string {
  const dir = join(CACHE, `tiny-${trainerHash()}`);
  if (existsSync(join(dir, 'config.json'))) return dir;
  mkdirSync(CACHE, { recursive: true });
  buildOnce(dir, () => buildTiny(dir));
  pruneStale(dir);
  return dir;
}

function buildTiny(dir: string): void {
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    runTrainer(['-m', 'diffill_trainer.fixtures', 'tiny', tmp, ...fixtureData()]);
    renameSync(tmp, dir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Removes models built from older trainer sources (finished builds only, never another's .tmp). */
function pruneStale(current: string): void {
  const keep = current.split('/').pop()!;
  for (const name of readdirSync(CACHE)) {
    if (name.startsWith('tiny-') && !name.includes('.tmp-') && !name.endsWith('.lock') && !name.startsWith(keep)) {
      rmSync(join(CACHE, name), { recursive: true, force: true });
    }
  }
}

/** Removes this process's scratch copies. */
export function removeScratchCopies(): void {
  const dir = join(CACHE, 'scratch');
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) if (name.endsWith(`-${process.pid}`)) rmSync(join(dir, name), { recursive: true, force: true });
}

/** A scratch copy of the tiny model, to break on purpose. */
export function copyOfTinyModel(name: string): string {
  const dir = join(CACHE, 'scratch', `${name}-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  cpSync(tinyModelDir(), dir, { recursive: true });
  return dir;
}

// Adds seeded noise to every weight matrix of the tiny model, scales up the [PAD] embedding row (tied
// with the head, so [PAD] logits swing widely), and re-exports with the trainer's own exporter. A 40-step
// fixture predicts nearly the same token everywhere; the noisy copy has varied predictions with
// confidences from a few percent to 1 and commits [PAD] often, so parity tests exercise multi-token
// commits, ordering and [PAD] broadcast for real.
const SHARPEN = `
import sys, torch
from pathlib import Path
from diffill_trainer.modelio import load_model_dir, save_weights
from diffill_trainer.export import export_model
d = Path(sys.argv[1])
model, cfg = load_model_dir(d)
g = torch.Generator().manual_seed(1)
with torch.no_grad():
    for _, p in model.named_parameters():
        if p.dim() >= 2:
            p.add_(torch.randn(p.shape, generator=g) * 0.3)
    model.embed.weight[cfg["special_tokens"]["pad"]] *= 3.0
save_weights(model, d / cfg["weights"]["file"], cfg["weights"]["dtype"])
export_model(model, d, quantized=False, val_windows=None)
`;

/** The tiny model with noisy weights (see SHARPEN), cached like the tiny model. */
export function sharpModelDir(): string {
  const base = tinyModelDir();
  const dir = `${base}-sharp-${createHash('sha256').update(SHARPEN).digest('hex').slice(0, 8)}`;
  if (!existsSync(join(dir, 'config.json'))) buildOnce(dir, () => buildSharp(base, dir));
  return dir;
}

function buildSharp(base: string, dir: string): void {
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  cpSync(base, tmp, { recursive: true });
  try {
    runTrainer(['-c', SHARPEN, tmp]);
    renameSync(tmp, dir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Runs a Python snippet inside the trainer package with JSON on stdin; parses its JSON stdout. */
export function pythonJson<T>(code: string, args: string[], input: unknown): T {
  return JSON.parse(runTrainer(['-c', code, ...args], JSON.stringify(input))) as T;
}
