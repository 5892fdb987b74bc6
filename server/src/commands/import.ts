// `diffill import`: converts a published checkpoint (SMDM, or a Qwen2-architecture Hugging Face MDM)
// into a model directory with the Python converter (server/training/python/diffill_trainer/imports).
// This file checks the command line, runs the converter through the trainer's process protocol and
// reports the result or the converter's one-line error.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from '../command';
import { CommandError, UsageError } from '../command';
import { packageRoot } from '../../common/paths';
import { checkPython, findPython, trainerDir } from '../../training/python';
import { runTrainer } from '../../training/trainer-process';
import { TrainerError } from '../../training/trainer-error';
import { onInterrupts } from './interrupts';
import { parseCommandArgs } from './args';

export const SOURCES = ['smdm', 'hf'] as const;
export type ImportSource = (typeof SOURCES)[number];
export const LENGTH_RULES = ['fixed', 'eos'] as const;

const USAGE = `Usage: diffill import --from smdm|hf --checkpoint PATH --tokenizer PATH --out DIR [options]

Converts a published masked diffusion checkpoint into a Diffill model directory (config.json,
tokenizer.json, model.onnx, model.safetensors, README.md), checked against a forward written in the
source's own layout. Where each published checkpoint lives and the command for it: docs/models.md.

Options:
  --from smdm|hf       smdm: an SMDM checkpoint (lit-gpt TransEncoder: .safetensors or .pth);
                       hf: a Qwen2-architecture Hugging Face folder (config.json + *.safetensors)
  --checkpoint PATH    the checkpoint file (smdm) or folder (hf)
  --tokenizer PATH     tokenizer.json, or a SentencePiece tokenizer.model (SMDM: TinyLlama's / Llama-2's)
  --out DIR            model directory to write (all or nothing); an existing one is refused unless --force
  --int8 | --no-int8   int8 graph or fp32 (default: int8 when it agrees with fp32 on at least 90% of
                       the top-1 tokens of random windows, else fp32; the model card says which)
  --length-rule R      fixed (default: the canvas length is the answer length; pretrained models) or
                       eos (answers end at EOS: SMDM's conditional-generation and reverse-curse models)
  --smdm-config NAME   SMDM configuration (6M ... 1028M, 2121M) when the weights' shapes do not tell
  --n-head N           SMDM query heads for a shape that is no published configuration
  --n-query-groups G   SMDM key/value heads (default: --n-head)
  --condense-ratio R   SMDM RoPE condense ratio (default 1, as published)
  --mask-id N          hf: the mask token id when the tokenizer does not name one
  --logit-shift 0|1    hf: 1 (default) reads position i's logits from the output at i - 1, as
                       Open-dCoder and the other MDMs adapted from an autoregressive Qwen2 are sampled;
                       0 for a model that predicts each position in place
  --name NAME          the model's name (default: DIR's name)
  --force              replace DIR when it already holds a model
  --python PATH        Python interpreter (default: $DIFFILL_PYTHON, then .venv/bin/python, then python3)

Needs the trainer's Python environment: npm run setup:python`;

export interface ImportRequest {
  source: ImportSource;
  checkpoint: string;
  tokenizer: string;
  out: string;
  int8: boolean | undefined;
  force: boolean;
  python: string | undefined;
  /** Converter flags passed on as given (--length-rule, --smdm-config, ...). */
  extra: string[];
}

function positiveInteger(flag: string, value: string): string {
  if (!/^\d+$/.test(value) || Number(value) <= 0) throw new UsageError(`--${flag} needs a positive integer, got '${value}'`);
  return value;
}

/** argv -> a checked ImportRequest; throws UsageError for anything malformed or missing. */
export function parseImportArgs(argv: string[], cwd = process.cwd()): ImportRequest {
  const { values } = parseCommandArgs(
    'import',
    argv,
    {
      from: { type: 'string' },
      checkpoint: { type: 'string' },
      tokenizer: { type: 'string' },
      out: { type: 'string' },
      int8: { type: 'boolean' },
      'no-int8': { type: 'boolean' },
      'length-rule': { type: 'string' },
      'smdm-config': { type: 'string' },
      'n-head': { type: 'string' },
      'n-query-groups': { type: 'string' },
      'condense-ratio': { type: 'string' },
      'mask-id': { type: 'string' },
      'logit-shift': { type: 'string' },
      name: { type: 'string' },
      force: { type: 'boolean' },
      python: { type: 'string' },
    },
    false,
  );
  if (values.from === undefined) throw new UsageError(`--from is required (${SOURCES.join(' or ')})`);
  if (!(SOURCES as readonly string[]).includes(values.from)) throw new UsageError(`unknown --from '${values.from}' (use ${SOURCES.join(' or ')})`);
  for (const flag of ['checkpoint', 'tokenizer', 'out'] as const) {
    if (values[flag] === undefined) throw new UsageError(`--${flag} ${flag === 'out' ? 'DIR' : 'PATH'} is required`);
  }
  if (values.int8 === true && values['no-int8'] === true) throw new UsageError('give --int8 or --no-int8, not both');
  const source = values.from as ImportSource;
  const extra: string[] = [];
  const rule = values['length-rule'];
  if (rule !== undefined) {
    if (!(LENGTH_RULES as readonly string[]).includes(rule)) throw new UsageError(`unknown --length-rule '${rule}' (use ${LENGTH_RULES.join(' or ')})`);
    extra.push('--length-rule', rule);
  }
  const smdmOnly = ['smdm-config', 'n-head', 'n-query-groups', 'condense-ratio'] as const;
  for (const flag of smdmOnly) {
    const v = values[flag];
    if (v === undefined) continue;
    if (source !== 'smdm') throw new UsageError(`--${flag} is for --from smdm only`);
    if (flag === 'n-head' || flag === 'n-query-groups') positiveInteger(flag, v);
    if (flag === 'condense-ratio' && !(Number(v) > 0)) throw new UsageError(`--condense-ratio needs a positive number, got '${v}'`);
    extra.push(`--${flag}`, v);
  }
  if (values['mask-id'] !== undefined) {
    if (source !== 'hf') throw new UsageError('--mask-id is for --from hf only (an SMDM mask is the extra embedding row)');
    if (!/^\d+$/.test(values['mask-id'])) throw new UsageError(`--mask-id needs a non-negative integer, got '${values['mask-id']}'`);
    extra.push('--mask-id', values['mask-id']);
  }
  const shift = values['logit-shift'];
  if (shift !== undefined) {
    if (source !== 'hf') throw new UsageError('--logit-shift is for --from hf only (SMDM predicts each position in place)');
    if (shift !== '0' && shift !== '1') throw new UsageError(`--logit-shift needs 0 or 1, got '${shift}'`);
    extra.push('--logit-shift', shift);
  }
  if (values.name !== undefined) extra.push('--name', values.name);
  const abs = (p: string) => path.resolve(cwd, p);
  return {
    source,
    checkpoint: abs(values.checkpoint!),
    tokenizer: abs(values.tokenizer!),
    out: abs(values.out!),
    int8: values.int8 === true ? true : values['no-int8'] === true ? false : undefined,
    force: values.force === true,
    python: values.python,
    extra,
  };
}

/** What costs no Python start-up to find wrong: the paths, and --out already holding something. */
export function checkImportRequest(req: ImportRequest, typed: { checkpoint: string; tokenizer: string; out: string }): void {
  const stat = (p: string) => {
    try {
      return fs.statSync(p);
    } catch {
      return undefined;
    }
  };
  const ckpt = stat(req.checkpoint);
  if (ckpt === undefined) throw new CommandError(`--checkpoint ${typed.checkpoint}: no such file or folder`);
  if (req.source === 'smdm' && !ckpt.isFile()) throw new CommandError(`--checkpoint ${typed.checkpoint}: --from smdm needs the checkpoint file (.safetensors or .pth), not a folder`);
  if (!stat(req.tokenizer)?.isFile()) throw new CommandError(`--tokenizer ${typed.tokenizer}: no such file`);
  const out = stat(req.out);
  if (out !== undefined && !out.isDirectory()) throw new UsageError(`--out ${typed.out} exists and is not a directory`);
  if (out !== undefined && !req.force && fs.readdirSync(req.out).length > 0) throw new UsageError(`--out ${typed.out} already exists; pass --force to replace it`);
}

export function converterArgs(req: ImportRequest): string[] {
  const args = ['--from', req.source, '--checkpoint', req.checkpoint, '--tokenizer', req.tokenizer, '--out', req.out];
  if (req.int8 !== undefined) args.push(req.int8 ? '--int8' : '--no-int8');
  if (req.force) args.push('--force');
  return [...args, ...req.extra];
}

interface ImportDone {
  model_dir: string;
  wall_s: number;
  quantized?: boolean;
  verify?: { reference_max_abs_diff?: number; bytes?: number; int8?: { top1_agreement?: number } };
}

export const command: Command = {
  name: 'import',
  summary: 'Convert a published checkpoint (SMDM, Qwen2-style) into a model directory',
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const req = parseImportArgs(argv);
    const typed = (flag: string) => argv[argv.indexOf(`--${flag}`) + 1] ?? '';
    checkImportRequest(req, { checkpoint: typed('checkpoint'), tokenizer: typed('tokenizer'), out: typed('out') });
    const root = packageRoot();
    const interrupts = onInterrupts((line) => process.stderr.write(`${line}\n`), 'stopping the conversion (nothing is written; Ctrl-C again to kill it now)...');
    try {
      const python = await checkPython(findPython({ explicit: req.python, root }), { cwd: trainerDir(root), signal: interrupts.signal });
      const run = await runTrainer({
        python: python.executable,
        module: 'diffill_trainer.imports',
        args: converterArgs(req),
        pythonPath: trainerDir(root),
        signal: interrupts.signal,
        forceSignal: interrupts.forceSignal,
        killGraceMs: 5_000,
        onEvent: (e) => {
          if (e.event === 'export') process.stderr.write(`import: ${e.stage}\n`);
        },
      });
      const d = run.done as unknown as ImportDone;
      const v = d.verify ?? {};
      const graph = d.quantized ? `int8 graph (top-1 agreement with fp32 ${v.int8?.top1_agreement?.toFixed(3) ?? 'n/a'})` : 'fp32 graph';
      const diff = v.reference_max_abs_diff !== undefined ? `, max logit difference from the source's forward ${v.reference_max_abs_diff.toExponential(1)}` : '';
      const size = v.bytes !== undefined ? ` ${(v.bytes / 1e6).toFixed(1)} MB` : '';
      process.stdout.write(`model written to ${d.model_dir}: ${graph}${size}${diff}, ${d.wall_s.toFixed(0)} s\n`);
      return 0;
    } catch (err) {
      if (err instanceof TrainerError) {
        if (err.kind === 'cancelled') {
          process.stderr.write('diffill: the import was cancelled; nothing was written\n');
          return 130;
        }
        // The converter's own message names what is wrong; its stderr lines add nothing to it.
        const message = err.summary.replace(/^the trainer failed: /, '');
        if (err.kind === 'bad_arguments') throw new UsageError(message);
        throw new CommandError(`import failed: ${message}`);
      }
      throw err;
    } finally {
      interrupts.dispose();
    }
  },
};
