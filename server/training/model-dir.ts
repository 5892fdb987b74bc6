// What makes a folder a usable model directory (docs/model-format.md), checked before a fine-tuned
// candidate is installed and whenever the store reads a version. Only the layout and config.json
// are checked here; whether the weights load is the engine's probe (finetune-probe.ts).

import { readFile, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, relative } from 'node:path';
import { jsonSyntaxProblem } from '../engine/errors';

/** The files every model directory must have (docs/model-format.md). */
export const REQUIRED_MODEL_FILES = ['config.json', 'tokenizer.json', 'model.onnx', 'model.safetensors'] as const;

/**
 * Checks that `dir` is a complete model directory: the four required files are non-empty regular
 * files, config.json parses with format "diffill-mdm" (or "diffill-arm", the autoregressive
 * baseline, served by the engine's autoregressive path), and the files it names exist. Returns the
 * problem, or null when the directory is usable.
 */
export async function modelDirProblem(dir: string): Promise<string | null> {
  for (const name of REQUIRED_MODEL_FILES) {
    try {
      const s = await stat(join(dir, name));
      if (!s.isFile()) return `${name} is not a file`;
      if (s.size === 0) return `${name} is empty`;
    } catch {
      return `${name} is missing`;
    }
  }
  let config: unknown;
  try {
    config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
  } catch (err) {
    return `config.json is ${jsonSyntaxProblem(err)}`;
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) return 'config.json is not a JSON object';
  const c = config as Record<string, unknown>;
  if (c['format'] !== 'diffill-mdm' && c['format'] !== 'diffill-arm') {
    return `config.json format is ${JSON.stringify(c['format'])}, expected "diffill-mdm" or "diffill-arm"`;
  }
  const named = [c['tokenizer'], (c['weights'] as Record<string, unknown> | undefined)?.['file'], (c['onnx'] as Record<string, unknown> | undefined)?.['file']];
  for (const file of named) {
    if (file === undefined) continue;
    if (typeof file !== 'string' || file === '' || isAbsolute(file) || relative(dir, join(dir, file)).startsWith('..')) {
      return `config.json names an invalid file ${JSON.stringify(file)}`;
    }
    try {
      if (!(await stat(join(dir, file))).isFile()) return `${file} (named in config.json) is not a file`;
      // Where it really lies: a symbolic link may not lead out of the model directory.
      const rel = relative(await realpath(dir), await realpath(join(dir, file)));
      if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return `${file} (named in config.json) lies outside the model directory`;
    } catch {
      return `${file} (named in config.json) is missing`;
    }
  }
  return null;
}
