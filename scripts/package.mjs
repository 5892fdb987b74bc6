// Builds a platform-specific VSIX: `npm run package [-- --target linux-x64] [-- --keep-stage]`.
//
// The extension is staged into a fresh folder outside the repository holding only what runs on the
// user's machine (manifest, bundles, default model, Python trainer, and onnxruntime-node with the one
// native binary the target needs), smoke-tested from there, and handed to vsce. Staging outside the
// repository matters: Node resolves modules by walking up parent folders, so a staged copy inside the
// checkout would silently borrow anything it lacks from the checkout's own node_modules.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Bad arguments or an unusable tree: printed as one line, never as a stack trace. */
export class PackageError extends Error {
  /** @param {'bad_argument' | 'unsupported_target' | 'missing_file' | 'build_failed' | 'smoke_failed' | 'vsce_failed'} code */
  constructor(code, message) {
    super(message);
    this.name = 'PackageError';
    this.code = code;
  }
}

// vsce targets that onnxruntime-node 1.30 ships a prebuilt binary for (bin/napi-v6/<platform>/<arch>).
// darwin-x64, linux-armhf and alpine (musl) have none, so a VSIX for them could never load the model.
export const TARGETS = {
  'linux-x64': { platform: 'linux', arch: 'x64' },
  'linux-arm64': { platform: 'linux', arch: 'arm64' },
  'darwin-arm64': { platform: 'darwin', arch: 'arm64' },
  'win32-x64': { platform: 'win32', arch: 'x64' },
  'win32-arm64': { platform: 'win32', arch: 'arm64' },
};

/** The modules the esbuild bundles leave external (scripts/build.mjs) and so must ship as files. */
export const RUNTIME_MODULES = ['onnxruntime-node', 'onnxruntime-common'];

/** What a trained default model directory holds (docs/model-format.md); model.onnx is what inference loads. */
export const MODEL_FILES = ['config.json', 'tokenizer.json', 'model.onnx', 'model.safetensors', 'loss.svg', 'README.md'];

/** Folders (repo-relative) walked for candidates; everything found is then filtered by isShipped. */
export const SOURCE_DIRS = [
  'dist',
  'bin',
  'models/default',
  'server/training/python',
  ...RUNTIME_MODULES.map((m) => `node_modules/${m}`),
];

/** Top-level files shipped as they are (package.json is shipped too, but rewritten by stripManifest). */
export const ROOT_FILES = ['README.md', 'LICENSE'];

/** Execution-provider libraries for GPUs: large, and the engine only uses the CPU provider. */
const GPU_PROVIDER = /(^|[/_.])(providers_(cuda|tensorrt|shared|rocm|migraphx)|cudart|cublas|cudnn|nvinfer)/i;

/** The target for the machine running this script, e.g. linux-x64; throws for hosts with no binary. */
export function hostTarget(platform = process.platform, arch = process.arch) {
  return resolveTarget(`${platform}-${arch}`).target;
}

/** Checks a vsce target name and returns its onnxruntime-node platform/arch folder names. */
export function resolveTarget(target) {
  const t = TARGETS[target];
  if (!t) {
    throw new PackageError(
      'unsupported_target',
      `unsupported target '${target}': onnxruntime-node has prebuilt binaries only for ${Object.keys(TARGETS).join(', ')}`,
    );
  }
  return { target, ...t };
}

/** Parses `--target <t>` / `--target=<t>`, `--keep-stage`, `--no-build`. */
export function parseArgs(argv) {
  const opts = { target: undefined, keepStage: false, build: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--target' || a === '-t') {
      const v = argv[++i];
      if (!v || v.startsWith('-')) throw new PackageError('bad_argument', `${a} needs a value, e.g. ${a} linux-x64`);
      opts.target = v;
    } else if (a.startsWith('--target=')) {
      opts.target = a.slice('--target='.length);
    } else if (a === '--keep-stage') {
      opts.keepStage = true;
    } else if (a === '--no-build') {
      opts.build = false;
    } else {
      throw new PackageError('bad_argument', `unknown argument '${a}' (expected --target <target>, --keep-stage, --no-build)`);
    }
  }
  opts.target = resolveTarget(opts.target ?? hostTarget()).target;
  return opts;
}

/**
 * Whether a repo-relative file (posix separators) goes into the VSIX for `target`.
 * Pure, so the selection rules can be tested without building anything.
 */
export function isShipped(rel, target) {
  const { platform, arch } = resolveTarget(target);
  if (ROOT_FILES.includes(rel)) return true;
  // Bundles only: sourcemaps double the size and the bundles' stack traces are readable enough.
  if (/^dist\/[^/]+\.js$/.test(rel)) return true;
  if (rel === 'bin/diffill') return true;
  if (rel.startsWith('models/default/')) return MODEL_FILES.includes(rel.slice('models/default/'.length));
  // Fine-tuning runs `python -m diffill_trainer.*` with PYTHONPATH=<root>/server/training/python, so the
  // package keeps that layout; its tests and bytecode caches are not needed.
  if (rel === 'server/training/python/requirements.txt') return true;
  if (rel.startsWith('server/training/python/diffill_trainer/')) {
    return !/(^|\/)__pycache__\//.test(rel) && !rel.endsWith('.pyc');
  }
  if (rel.startsWith('node_modules/onnxruntime-common/')) {
    const r = rel.slice('node_modules/onnxruntime-common/'.length);
    // Only the CommonJS build: the engine reaches it through require().
    return r === 'package.json' || /^dist\/cjs\/.+\.(js|json)$/.test(r);
  }
  if (rel.startsWith('node_modules/onnxruntime-node/')) {
    const r = rel.slice('node_modules/onnxruntime-node/'.length);
    if (r === 'package.json' || /^dist\/[^/]+\.js$/.test(r)) return true;
    // dist/binding.js loads bin/napi-v*/<process.platform>/<process.arch>/onnxruntime_binding.node.
    const m = /^bin\/napi-v\d+\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(r);
    return m !== null && m[1] === platform && m[2] === arch && !GPU_PROVIDER.test(m[3]);
  }
  return false;
}

/** The shipped subset of `relPaths`, sorted. */
export function selectFiles(relPaths, target) {
  return relPaths.filter((rel) => isShipped(rel, target)).sort();
}

/**
 * The manifest as installed: no build/test scripts or dev tools, and only the dependencies that ship
 * as files (the rest are inside the bundles). vsce lists the staged node_modules from `dependencies`.
 */
export function stripManifest(manifest) {
  const { scripts: _scripts, devDependencies: _dev, dependencies = {}, ...rest } = manifest;
  const runtime = Object.fromEntries(Object.entries(dependencies).filter(([name]) => RUNTIME_MODULES.includes(name)));
  if (!('onnxruntime-node' in runtime)) throw new PackageError('missing_file', 'package.json does not depend on onnxruntime-node');
  return { ...rest, dependencies: runtime };
}

/**
 * onnxruntime-node's manifest in the staged copy. Its adm-zip/global-agent dependencies and postinstall
 * script only download optional GPU binaries at install time; the VSIX is never npm-installed, and
 * keeping them declared would make vsce's `npm list` fail on their (deliberate) absence.
 */
export function stripRuntimeManifest(manifest) {
  const { scripts: _scripts, devDependencies: _dev, dependencies = {}, ...rest } = manifest;
  const kept = Object.fromEntries(Object.entries(dependencies).filter(([name]) => RUNTIME_MODULES.includes(name)));
  return { ...rest, dependencies: kept };
}

/** Repo-relative posix paths of every file under `dir` (missing folders yield nothing). */
function walk(root, dir) {
  const abs = path.join(root, dir);
  if (!fs.existsSync(abs)) return [];
  return fs
    .readdirSync(abs, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(root, path.join(e.parentPath ?? e.path, e.name)).split(path.sep).join('/'));
}

/** Every candidate file in the repository, before selection. */
export function candidateFiles(root) {
  return [...ROOT_FILES.filter((f) => fs.existsSync(path.join(root, f))), ...SOURCE_DIRS.flatMap((d) => walk(root, d))];
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...opts });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error };
}

/** An environment for smoke runs: no NODE_PATH, so only the staged node_modules can satisfy require(). */
function cleanEnv() {
  const env = { ...process.env };
  delete env.NODE_PATH;
  return env;
}

function mib(bytes) {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

function loudWarning(lines) {
  const bar = '!'.repeat(78);
  console.warn(`\n${bar}\n${lines.map((l) => `!! ${l}`).join('\n')}\n${bar}\n`);
}

/** Copies the selection into `stage` and writes the rewritten manifests. */
function stageFiles(root, stage, files) {
  for (const rel of files) {
    const to = path.join(stage, rel);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(path.join(root, rel), to);
  }
  const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  fs.writeFileSync(path.join(stage, 'package.json'), `${JSON.stringify(stripManifest(manifest), null, 2)}\n`);
  const ortManifestPath = path.join(stage, 'node_modules', 'onnxruntime-node', 'package.json');
  const ortManifest = JSON.parse(fs.readFileSync(ortManifestPath, 'utf8'));
  fs.writeFileSync(ortManifestPath, `${JSON.stringify(stripRuntimeManifest(ortManifest), null, 2)}\n`);
}

/** The ONNX model the runtime smoke test opens: the staged default model, else a test model if one was built. */
function smokeModel(root, stage) {
  const staged = path.join(stage, 'models', 'default', 'model.onnx');
  if (fs.existsSync(staged)) return staged;
  const cache = path.join(root, 'test', '.cache');
  if (!fs.existsSync(cache)) return undefined;
  for (const d of fs.readdirSync(cache).filter((n) => n.startsWith('tiny-')).sort()) {
    const m = path.join(cache, d, 'model.onnx');
    if (fs.existsSync(m)) return m;
  }
  return undefined;
}

/**
 * Runs the staged copy the way an installed extension runs: from another working directory, with
 * NODE_PATH unset. Only possible when the target is this machine's platform.
 */
function smokeTest(root, stage) {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'diffill-smoke-'));
  try {
    // The bare runtime opens a session here: its telemetry off, as in the engine (server/engine/ort-env.ts).
    const env = { ...cleanEnv(), ORT_DISABLE_TELEMETRY: '1' };
    const model = smokeModel(root, stage);
    const ortScript = [
      `const ort = require(${JSON.stringify(path.join(stage, 'node_modules', 'onnxruntime-node'))});`,
      `const model = ${JSON.stringify(model ?? null)};`,
      'if (!model) { console.log("onnxruntime-node loaded (no model.onnx to open)"); process.exit(0); }',
      'ort.InferenceSession.create(model, { executionProviders: ["cpu"] }).then(',
      '  (s) => console.log(`onnxruntime-node opened ${model}: inputs ${s.inputNames.join(",")}; outputs ${s.outputNames.join(",")}`),',
      '  (e) => { console.error(e && e.message ? e.message : String(e)); process.exit(1); });',
    ].join('\n');
    const cli = path.join(stage, 'dist', 'cli.js');
    const checks = [
      ['onnxruntime-node', ['-e', ortScript]],
      ['cli --help', [cli, '--help']],
      ['cli tokenize README.md', [cli, 'tokenize', path.join(stage, 'README.md')]],
    ];
    for (const [label, args] of checks) {
      const r = run(process.execPath, args, { cwd, env });
      if (r.status !== 0) {
        throw new PackageError('smoke_failed', `staged '${label}' failed (exit ${r.status ?? r.error}):\n${(r.stderr || r.stdout).trim()}`);
      }
      const firstLine = r.stdout.trim().split('\n')[0] ?? '';
      console.log(`smoke ok: ${label}: ${firstLine.length > 120 ? `${firstLine.slice(0, 117)}...` : firstLine}`);
    }
  } finally {
    fs.rmSync(cwd, { recursive: true, force: true });
  }
}

/** Size per top-level group of the staged files, largest first: the VSIX's content summary. */
function summarize(stage, files) {
  const groups = new Map();
  for (const rel of ['package.json', ...files]) {
    const parts = rel.split('/');
    const key = parts[0] === 'node_modules' ? parts.slice(0, 2).join('/') : parts.length > 1 ? `${parts[0]}/` : parts[0];
    const g = groups.get(key) ?? { files: 0, bytes: 0 };
    g.files += 1;
    g.bytes += fs.statSync(path.join(stage, rel)).size;
    groups.set(key, g);
  }
  return [...groups.entries()].sort((a, b) => b[1].bytes - a[1].bytes);
}

function vsceBin(root) {
  const dir = path.join(root, 'node_modules', '@vscode', 'vsce');
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  return path.join(dir, typeof manifest.bin === 'string' ? manifest.bin : manifest.bin.vsce);
}

async function main() {
  const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
  const opts = parseArgs(process.argv.slice(2));
  const { target } = opts;

  if (opts.build) {
    const b = run(process.execPath, [path.join(root, 'scripts', 'build.mjs')], { cwd: root, stdio: 'inherit' });
    if (b.status !== 0) throw new PackageError('build_failed', `scripts/build.mjs failed (exit ${b.status})`);
  }

  const files = selectFiles(candidateFiles(root), target);
  const required = ['README.md', 'LICENSE', 'dist/cli.js', 'dist/client.js', 'bin/diffill', 'models/default/tokenizer.json',
    'server/training/python/requirements.txt', 'server/training/python/diffill_trainer/__init__.py',
    'node_modules/onnxruntime-common/package.json', 'node_modules/onnxruntime-node/package.json'];
  const missing = required.filter((f) => !files.includes(f));
  if (!files.some((f) => /^node_modules\/onnxruntime-node\/bin\/.+\/onnxruntime_binding\.node$/.test(f))) {
    missing.push(`node_modules/onnxruntime-node/bin/napi-v*/${TARGETS[target].platform}/${TARGETS[target].arch}/onnxruntime_binding.node`);
  }
  if (missing.length > 0) throw new PackageError('missing_file', `cannot package ${target}; missing: ${missing.join(', ')}`);

  const absentModel = MODEL_FILES.filter((f) => !files.includes(`models/default/${f}`));
  if (absentModel.includes('model.onnx')) {
    loudWarning([
      'models/default/model.onnx is MISSING: this VSIX ships no trained model.',
      'Inline completions will fail until a model is set with diffill.modelPath.',
      `Also absent from models/default: ${absentModel.filter((f) => f !== 'model.onnx').join(', ') || '(nothing else)'}`,
    ]);
  } else if (absentModel.length > 0) {
    console.warn(`warning: models/default lacks ${absentModel.join(', ')}`);
  }

  const stage = fs.mkdtempSync(path.join(os.tmpdir(), `diffill-vsix-${target}-`));
  try {
    stageFiles(root, stage, files);
    console.log(`staged ${files.length + 1} files for ${target} in ${stage}`);

    if (target === hostTargetOrNull()) smokeTest(root, stage);
    else console.warn(`warning: ${target} is not this machine's platform; the staged copy was not run`);

    const manifest = JSON.parse(fs.readFileSync(path.join(stage, 'package.json'), 'utf8'));
    const outDir = path.join(root, 'out');
    fs.mkdirSync(outDir, { recursive: true });
    const vsix = path.join(outDir, `${manifest.name}-${target}-${manifest.version}.vsix`);
    // npm mode (not --no-dependencies): with --no-dependencies vsce leaves out every node_modules folder.
    // The manifest has no repository URL (the extension is offline-only), and the README's links are
    // kept as written rather than rewritten against a repository.
    const v = run(process.execPath, [vsceBin(root), 'package', '--target', target, '--out', vsix, '--dependencies', '--no-yarn',
      '--allow-missing-repository', '--no-rewrite-relative-links'], { cwd: stage, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    if (v.status !== 0) throw new PackageError('vsce_failed', `vsce package failed (exit ${v.status ?? v.error}):\n${(v.stderr + v.stdout).trim()}`);

    console.log('\ncontents (uncompressed):');
    for (const [key, g] of summarize(stage, files)) {
      console.log(`  ${key.padEnd(44)} ${String(g.files).padStart(4)} files  ${mib(g.bytes).padStart(9)}`);
    }
    const size = fs.statSync(vsix).size;
    console.log(`\n${path.relative(root, vsix)}: ${mib(size)} (${size} bytes)`);
    if (size > 60 * 1024 * 1024) console.warn('warning: the VSIX is over the 60 MiB goal');
    if (opts.keepStage) console.log(`staged folder kept: ${stage}`);
  } finally {
    if (!opts.keepStage) fs.rmSync(stage, { recursive: true, force: true });
  }
}

function hostTargetOrNull() {
  try {
    return hostTarget();
  } catch {
    return null;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().catch((err) => {
    if (err instanceof PackageError) {
      console.error(`package: ${err.message}`);
      process.exit(2);
    }
    throw err;
  });
}
