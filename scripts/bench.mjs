// `npm run bench`: the benchmark suite (not a test). Builds the CLI bundle, then runs
// `diffill bench`, writing test/.cache/bench/results.json and results.md (git-ignored; the
// curated figures live in docs/benchmarks.md) unless the arguments say otherwise.
// Extra arguments go to `diffill bench` (e.g. npm run bench -- --quick --model DIR).
// `npm run bench -- --suite soak [--minutes M]` soaks the language server instead and writes
// soak.json / soak.md, so that it does not overwrite the suite's results.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const build = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit', cwd: root });
if (build.status !== 0) process.exit(build.status ?? 1);
const out = join(root, 'test', '.cache', 'bench');
mkdirSync(out, { recursive: true });
const defaults = [];
const soak = args.some((a, i) => a === '--suite=soak' || (a === '--suite' && args[i + 1] === 'soak'));
const name = soak ? 'soak' : 'results';
if (!args.includes('--json')) defaults.push('--json', join(out, `${name}.json`));
if (!args.includes('--markdown')) defaults.push('--markdown', join(out, `${name}.md`));
const run = spawnSync(process.execPath, [join(root, 'bin', 'diffill'), 'bench', ...defaults, ...args], { stdio: 'inherit', cwd: root });
process.exit(run.status ?? 1);
