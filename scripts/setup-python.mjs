// Creates the trainer's virtual environment (.venv) and installs the pinned Python requirements.
// Inference never needs Python; only training, fine-tuning and the test suite's model fixtures do.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const venv = join(root, '.venv');
const python = join(venv, 'bin', 'python');
const requirements = join(root, 'server', 'training', 'python', 'requirements.txt');

function run(cmd, args) {
  console.error(`$ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root });
  if (r.status !== 0) {
    console.error(`setup-python: '${cmd}' failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
}

if (!existsSync(python)) run(process.env.PYTHON ?? 'python3', ['-m', 'venv', venv]);
run(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', '-r', requirements]);
console.error(`setup-python: ready (${python})`);
