// The end-to-end scenarios of test/e2e in desktop VS Code, through @vscode/test-electron:
// `npm run test:electron [-- --skip-finetune]` from the repository root.
//
// Two VS Code runs, each a fresh profile under test/electron/.work/:
//   1. editing: the repository itself is the extension under development (its dist/ bundles and the
//      shipped models/default), a workspace copied from test/electron/fixture/, and the suite in
//      suite/editing.test.js (ghost text, Fill Blanks, Write What Comes Before, guidance).
//   2. finetune: a staged copy of the extension whose shipped model is the tiny test model (fine-tuning
//      the default model on a CPU would take minutes), and suite/finetune.test.js.
//
// VS Code is downloaded once into test/electron/.vscode-test/ (this needs network access to the VS
// Code update service); DIFFILL_VSCODE_EXECUTABLE=/path/to/code uses an installed one instead, and
// DIFFILL_VSCODE_VERSION picks a version (default: the newest stable that satisfies engines.vscode).
// On Linux without a display, run it under `xvfb-run -a`. Prints `N passed, N failed`; exits 0 when
// everything passed, 1 when a test failed, 2 when it could not run (no VS Code, no model, no build).
// @ts-check
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const WORK = join(HERE, '.work');
const CACHE = join(HERE, '.vscode-test');
const SUITE_INDEX = join(HERE, 'suite', 'index.js');

/** A reason the suite cannot run at all (as opposed to a failing test): exit code 2, one clear message. */
class SetupError extends Error {}

/** @param {string} message */
function log(message) {
  process.stdout.write(`[electron] ${message}\n`);
}

/** Installs test/electron's own devDependencies on first use, as test/e2e/setup.sh does for its tools. */
function installDependencies() {
  if (existsSync(join(HERE, 'node_modules', '@vscode', 'test-electron')) && existsSync(join(HERE, 'node_modules', 'mocha'))) return;
  log('installing test/electron dependencies (npm ci)');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  try {
    execFileSync(npm, ['ci', '--no-audit', '--no-fund'], { cwd: HERE, stdio: 'inherit', shell: process.platform === 'win32' });
  } catch (err) {
    throw new SetupError(`npm ci in test/electron failed (${err instanceof Error ? err.message : String(err)})`);
  }
}

function build() {
  log('building dist/ (scripts/build.mjs)');
  try {
    execFileSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT, stdio: 'inherit' });
  } catch {
    throw new SetupError('scripts/build.mjs failed; the extension cannot be loaded without dist/client.js and dist/cli.js');
  }
}

/** The model the language server serves when the repository is the extension: the shipped one. */
function checkShippedModel() {
  const dir = join(ROOT, 'models', 'default');
  const missing = ['config.json', 'tokenizer.json', 'model.onnx'].filter((f) => !existsSync(join(dir, f)));
  if (missing.length > 0) throw new SetupError(`models/default lacks ${missing.join(', ')}: the suite runs against the shipped model`);
}

/**
 * The user settings of a test profile: nothing that could cover the editor or steal a notification.
 * @param {string} userData
 * @param {Record<string, unknown>} extra
 */
function writeProfile(userData, extra) {
  mkdirSync(join(userData, 'User'), { recursive: true });
  const settings = {
    'security.workspace.trust.enabled': false,
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    // A recommendation toast ("install the Python extension?") would be the newest notification, and
    // the suite answers Diffill's prompts through "accept the newest notification's primary action".
    'extensions.ignoreRecommendations': true,
    'telemetry.telemetryLevel': 'off',
    'update.mode': 'none',
    'chat.commandCenter.enabled': false,
    // The workspace sits inside this repository: no "open the parent git repository?" prompt.
    'git.enabled': false,
    'git.openRepositoryInParentFolders': 'never',
    'editor.quickSuggestions': { other: false, comments: false, strings: false },
    'editor.wordBasedSuggestions': 'off',
    'editor.inlineSuggest.enabled': true,
    // Keeps ghost text while another window has the focus.
    'editor.inlineSuggest.keepOnBlur': true,
    // Every message between client and server, with its parameters, goes to the Diffill log (at trace
    // level, see --log below), which is how the suite sees what the server received and sent.
    'diffill.trace.server': 'verbose',
    'diffill.debounceMs': 50,
    ...extra,
  };
  writeFileSync(join(userData, 'User', 'settings.json'), `${JSON.stringify(settings, null, 2)}\n`);
}

/**
 * The launch arguments of one run: the workspace first (VS Code opens it), then a private profile.
 * @param {string} workspace
 * @param {string} userData
 * @param {string} extensionsDir
 */
function launchArgs(workspace, userData, extensionsDir) {
  return [
    workspace,
    '--disable-extensions',
    `--user-data-dir=${userData}`,
    `--extensions-dir=${extensionsDir}`,
    // The extension's log channel at trace level: the language client then traces the LSP traffic.
    '--log=diffill.diffill:trace',
  ];
}

function prepareEditingRun() {
  const base = join(WORK, 'editing');
  const workspace = join(base, 'workspace');
  mkdirSync(workspace, { recursive: true });
  // A copy: the suite edits and saves these files.
  cpSync(join(HERE, 'fixture'), workspace, { recursive: true });
  const userData = join(base, 'user-data');
  writeProfile(userData, {});
  return { workspace, userData, extensionsDir: join(base, 'extensions') };
}

/** The tiny test model (built by the project's trainer on first use; needs `npm run setup:python`). */
function tinyModel() {
  try {
    return execFileSync(
      process.execPath,
      ['--import', 'tsx', '-e', "process.stdout.write(require('./test/helpers/tiny-model.ts').tinyModelDir())"],
      { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
    ).trim();
  } catch {
    throw new SetupError('building the tiny test model failed (it needs the Python environment: npm run setup:python); --skip-finetune skips this run');
  }
}

function python() {
  const venv = join(ROOT, '.venv', process.platform === 'win32' ? 'Scripts' : 'bin', process.platform === 'win32' ? 'python.exe' : 'python');
  return process.env.DIFFILL_PYTHON || (existsSync(venv) ? venv : 'python3');
}

/**
 * A folder link that needs no privileges on Windows (a junction) and is a plain symlink elsewhere.
 * @param {string} target
 * @param {string} path
 */
function linkDir(target, path) {
  mkdirSync(dirname(path), { recursive: true });
  symlinkSync(target, path, process.platform === 'win32' ? 'junction' : 'dir');
}

/**
 * An extension folder like the installed one but with the tiny model as models/default. The bundles
 * are copied, not linked: the server finds its package root (and so models/default) by walking up
 * from dist/cli.js's real path. node_modules and the trainer are read-only and are linked.
 * @param {string} base
 */
function stageFinetuneExtension(base) {
  const ext = join(base, 'extension');
  mkdirSync(ext, { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(ext, 'package.json'));
  cpSync(join(ROOT, 'dist'), join(ext, 'dist'), { recursive: true });
  cpSync(tinyModel(), join(ext, 'models', 'default'), { recursive: true });
  linkDir(join(ROOT, 'node_modules'), join(ext, 'node_modules'));
  linkDir(join(ROOT, 'server', 'training', 'python'), join(ext, 'server', 'training', 'python'));
  return ext;
}

function prepareFinetuneRun() {
  const base = join(WORK, 'finetune');
  const workspace = join(base, 'workspace');
  // The same small workspace as the code-server test: TypeScript sources, notes and a README.
  for (const part of ['src', 'notes', 'README.md', '.gitignore']) {
    const from = join(ROOT, 'test', 'fixtures', 'workspace', part);
    if (existsSync(from)) cpSync(from, join(workspace, part), { recursive: true });
  }
  const userData = join(base, 'user-data');
  writeProfile(userData, {
    // User settings: the only place the interpreter may come from.
    'diffill.pythonPath': python(),
    'diffill.finetuneSteps': 30,
    'diffill.finetuneDevice': 'cpu',
    'diffill.threads': 1,
  });
  return { extension: stageFinetuneExtension(base), workspace, userData, extensionsDir: join(base, 'extensions') };
}

/** @typedef {typeof import('@vscode/test-electron')} TestElectron */
/** @typedef {{ extension: string, workspace: string, userData: string, extensionsDir: string }} Run */
/** @typedef {{ passed: number, failed: number }} Counts */

/**
 * VS Code to run: DIFFILL_VSCODE_EXECUTABLE, else a download (cached in test/electron/.vscode-test).
 * @param {TestElectron} testElectron
 * @returns {Promise<string>}
 */
async function resolveVSCode(testElectron) {
  const given = process.env.DIFFILL_VSCODE_EXECUTABLE;
  if (given) {
    if (!existsSync(given)) throw new SetupError(`DIFFILL_VSCODE_EXECUTABLE=${given} does not exist`);
    return given;
  }
  const version = process.env.DIFFILL_VSCODE_VERSION;
  try {
    return await testElectron.downloadAndUnzipVSCode({
      cachePath: CACHE,
      // Without a version: the newest stable release that satisfies package.json engines.vscode.
      ...(version ? { version } : { extensionDevelopmentPath: ROOT }),
    });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new SetupError(
      [
        `could not download VS Code${version ? ` ${version}` : ''}: ${why}`,
        'The first run needs network access to the VS Code update service; the download is then cached in',
        'test/electron/.vscode-test/ and later runs work offline. Or point DIFFILL_VSCODE_EXECUTABLE at the',
        'binary of an installed VS Code (not the `code` shell script): /usr/share/code/code on Linux,',
        '.../Visual Studio Code.app/Contents/MacOS/Electron on macOS, Code.exe on Windows.',
      ].join('\n'),
    );
  }
}

/**
 * One VS Code run of one suite; returns its counts (read from the file the suite writes).
 * @param {TestElectron} testElectron
 * @param {string} vscodeExecutablePath
 * @param {string} name
 * @param {Run} run
 * @returns {Promise<Counts>}
 */
async function runSuite(testElectron, vscodeExecutablePath, name, { extension, workspace, userData, extensionsDir }) {
  const resultFile = join(WORK, `${name}-result.json`);
  rmSync(resultFile, { force: true });
  log(`running the ${name} suite in VS Code (${vscodeExecutablePath})`);
  try {
    await testElectron.runTests({
      vscodeExecutablePath,
      extensionDevelopmentPath: extension,
      extensionTestsPath: SUITE_INDEX,
      launchArgs: launchArgs(workspace, userData, extensionsDir),
      extensionTestsEnv: {
        DIFFILL_ELECTRON_SUITE: name,
        DIFFILL_ELECTRON_RESULT: resultFile,
        DIFFILL_ELECTRON_USER_DATA: userData,
        DIFFILL_ELECTRON_WORKSPACE: workspace,
      },
    });
  } catch (err) {
    // A failing test makes VS Code exit non-zero; the counts below say which. Anything else (VS Code
    // did not start, crashed) left no result file and counts as one failure.
    log(`the ${name} run ended with: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!existsSync(resultFile)) {
    log(`the ${name} suite wrote no result (VS Code did not start or the suite crashed; logs: ${join(userData, 'logs')})`);
    return { passed: 0, failed: 1 };
  }
  const { passed, failed } = JSON.parse(readFileSync(resultFile, 'utf8'));
  if (failed > 0) log(`the Diffill log of the ${name} run is under ${join(userData, 'logs')}`);
  return { passed, failed };
}

async function main() {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => a !== '--skip-finetune');
  if (unknown.length > 0) throw new SetupError(`unknown argument ${unknown.join(' ')} (expected --skip-finetune)`);
  const skipFinetune = args.includes('--skip-finetune');

  installDependencies();
  const require = createRequire(import.meta.url);
  /** @type {TestElectron} */
  const testElectron = require('@vscode/test-electron');

  checkShippedModel();
  // First, as the step most likely to fail on a new machine.
  const vscode = await resolveVSCode(testElectron);
  build();
  if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) {
    log('warning: no DISPLAY: VS Code needs one; on a headless machine run `xvfb-run -a npm run test:electron`');
  }

  rmSync(WORK, { recursive: true, force: true });
  const totals = { passed: 0, failed: 0 };
  /** @param {Counts} counts */
  const add = ({ passed, failed }) => {
    totals.passed += passed;
    totals.failed += failed;
  };
  add(await runSuite(testElectron, vscode, 'editing', { extension: ROOT, ...prepareEditingRun() }));
  if (skipFinetune) log('fine-tuning run skipped (--skip-finetune)');
  else add(await runSuite(testElectron, vscode, 'finetune', prepareFinetuneRun()));

  process.stdout.write(`${totals.passed} passed, ${totals.failed} failed\n`);
  process.exitCode = totals.failed === 0 && totals.passed > 0 ? 0 : 1;
}

main().catch((err) => {
  if (err instanceof SetupError) {
    process.stderr.write(`test:electron: ${err.message}\n`);
    process.exitCode = 2;
    return;
  }
  process.stderr.write(`test:electron: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
