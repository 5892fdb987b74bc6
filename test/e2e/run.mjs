// End-to-end test of the extension in a real VS Code: code-server (VS Code 1.100 web UI + its Node
// extension host) driven in headless Chromium by playwright-core. It installs its own tools
// (setup.sh), copies the built extension into a fresh extensions folder, and checks what a user
// sees: ghost text from typing alone accepted with Tab, ghost text on an explicit request, Fill
// Blanks, Write What Comes Before, a guidance change reaching the server, and a fine-tuning run (in a
// second code-server with the tiny model).
// Screenshots go to test/e2e/screenshots/. Prints `N passed, N failed`.
//
// Needs `npm run build` first. Uses $DIFFILL_E2E_MODEL, else models/default when it holds a model,
// else the noisy tiny test model (test/helpers/tiny-model.ts).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const WORK = join(HERE, '.work');
const SHOTS = join(HERE, 'screenshots');
const STEP_TIMEOUT = 60_000;
const started = Date.now();

function log(message) {
  process.stdout.write(`[e2e ${((Date.now() - started) / 1000).toFixed(1)}s] ${message}\n`);
}

// ---- Preparation -----------------------------------------------------------------------------

function setup() {
  execFileSync('bash', [join(HERE, 'setup.sh')], { stdio: 'inherit' });
}

function modelDir() {
  // DIFFILL_E2E_MODEL runs the test against any model directory.
  if (process.env.DIFFILL_E2E_MODEL) return process.env.DIFFILL_E2E_MODEL;
  const shipped = join(ROOT, 'models', 'default');
  if (existsSync(join(shipped, 'config.json')) && existsSync(join(shipped, 'model.onnx'))) return shipped;
  // The plain tiny fixture predicts [PAD] almost everywhere, so it often writes nothing; its noisy
  // copy writes text at every gap. This test checks the editor integration, not the model's quality.
  log('models/default has no model yet: using the noisy tiny test model');
  const out = execFileSync(
    process.execPath,
    ['--import', 'tsx', '-e', "process.stdout.write(require('./test/helpers/tiny-model.ts').sharpModelDir())"],
    { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return out.trim();
}

/** Copies what the extension needs at run time, as an installed extension folder would hold it. */
function installExtension(extensionsDir, model) {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const target = join(extensionsDir, `${pkg.publisher}.${pkg.name}-${pkg.version}`);
  for (const f of ['dist/cli.js', 'dist/client.js']) {
    if (!existsSync(join(ROOT, f))) throw new Error(`${f} is missing: run \`npm run build\` first`);
  }
  mkdirSync(target, { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(target, 'package.json'));
  cpSync(join(ROOT, 'dist'), join(target, 'dist'), { recursive: true });
  cpSync(model, join(target, 'models', 'default'), { recursive: true });
  // The native add-on stays out of the bundle: ship its JS and only the Linux x64 binary.
  const ort = join(ROOT, 'node_modules', 'onnxruntime-node');
  const ortTarget = join(target, 'node_modules', 'onnxruntime-node');
  for (const part of ['package.json', 'dist', 'lib']) {
    if (existsSync(join(ort, part))) cpSync(join(ort, part), join(ortTarget, part), { recursive: true });
  }
  for (const napi of ['napi-v6', 'napi-v3']) {
    const bin = join(ort, 'bin', napi, 'linux', 'x64');
    if (existsSync(bin)) cpSync(bin, join(ortTarget, 'bin', napi, 'linux', 'x64'), { recursive: true });
  }
  cpSync(join(ROOT, 'node_modules', 'onnxruntime-common'), join(target, 'node_modules', 'onnxruntime-common'), { recursive: true });
  return target;
}

const FILES = {
  'ghost.py': '# Adds two numbers.\n',
  'explicit.py': '# Multiplies two numbers.\ndef mul(a, b):\n    return a',
  'blanks.py': 'def area(width, height):\n    return width ___ height\n\n\nprint(area(3, ___))\n',
  'before.py': 'def greet(name):\n    return "Hello, " + name\n',
};

function prepareWorkspace() {
  rmSync(WORK, { recursive: true, force: true });
  const workspace = join(WORK, 'workspace');
  const userData = join(WORK, 'user-data');
  const extensions = join(WORK, 'extensions');
  mkdirSync(workspace, { recursive: true });
  mkdirSync(join(userData, 'User'), { recursive: true });
  mkdirSync(extensions, { recursive: true });
  for (const [name, text] of Object.entries(FILES)) writeFileSync(join(workspace, name), text);
  writeFileSync(
    join(userData, 'User', 'settings.json'),
    JSON.stringify(
      {
        // A modal trust dialog would block every click.
        'security.workspace.trust.enabled': false,
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'extensions.autoCheckUpdates': false,
        'extensions.autoUpdate': false,
        'telemetry.telemetryLevel': 'off',
        'chat.commandCenter.enabled': false,
        // The workspace sits inside this repository: no "open the parent git repository?" toast.
        'git.enabled': false,
        'git.openRepositoryInParentFolders': 'never',
        // Keep the word-based suggest widget from covering the ghost text.
        'editor.quickSuggestions': { other: false, comments: false, strings: false },
        'editor.wordBasedSuggestions': 'off',
        'editor.inlineSuggest.enabled': true,
        'diffill.debounceMs': 50,
      },
      null,
      2,
    ),
  );
  return { workspace, userData, extensions };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

async function waitForHttp(url, child, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`code-server exited with ${child.exitCode}`);
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`code-server did not answer at ${url} within ${timeoutMs} ms`);
}

/** Stops a detached child and everything in its process group; waits for the child to exit. */
async function stopGroup(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    child.kill('SIGTERM');
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }, 5000);
  await exited;
  clearTimeout(timer);
}

// ---- Checks ----------------------------------------------------------------------------------

const results = [];

let currentPage = null;

async function check(name, fn) {
  log(`• ${name}`);
  try {
    await fn();
    results.push({ name, ok: true });
    log(`  ok: ${name}`);
  } catch (err) {
    results.push({ name, ok: false });
    // What the user would have seen when it failed.
    await currentPage?.screenshot({ path: join(SHOTS, `failed-${results.length}.png`) }).catch(() => undefined);
    // Leave no notification or quick pick behind for the next check.
    await currentPage?.keyboard.press('Escape').catch(() => undefined);
    log(`  FAILED: ${name}: ${err instanceof Error ? err.message.split('\n').slice(0, 6).join('\n') : String(err)}`);
  }
}

/** Polls `read` until `ok(value)`; returns the value. */
async function until(what, read, ok, timeoutMs = STEP_TIMEOUT) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = read();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(last)}`);
}

// ---- Fine-tuning scenario ---------------------------------------------------------------------
// Its own code-server with the tiny test model as the shipped model (fine-tuning the 12M default on
// CPU would take minutes), a small workspace and a step budget from the user settings, so the whole
// job (data, training, evaluation, install, hot swap) takes well under a minute.

const FT_STEPS = 30;

function tinyModel() {
  const out = execFileSync(
    process.execPath,
    ['--import', 'tsx', '-e', "process.stdout.write(require('./test/helpers/tiny-model.ts').tinyModelDir())"],
    { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return out.trim();
}

function python() {
  const venv = join(ROOT, '.venv', 'bin', 'python');
  return process.env.DIFFILL_PYTHON || (existsSync(venv) ? venv : 'python3');
}

async function finetuneScenario(chromium) {
  const base = join(WORK, 'finetune');
  const workspace = join(base, 'workspace');
  const userData = join(base, 'user-data');
  const extensions = join(base, 'extensions');
  rmSync(base, { recursive: true, force: true });
  mkdirSync(join(userData, 'User'), { recursive: true });
  mkdirSync(extensions, { recursive: true });
  // A small workspace: the fixture's TypeScript sources, notes and README.
  for (const part of ['src', 'notes', 'README.md', '.gitignore']) {
    cpSync(join(ROOT, 'test', 'fixtures', 'workspace', part), join(workspace, part), { recursive: true });
  }
  writeFileSync(
    join(userData, 'User', 'settings.json'),
    JSON.stringify({
      'security.workspace.trust.enabled': false,
      'workbench.startupEditor': 'none',
      'workbench.tips.enabled': false,
      'extensions.autoCheckUpdates': false,
      'extensions.autoUpdate': false,
      'telemetry.telemetryLevel': 'off',
      'chat.commandCenter.enabled': false,
      'git.enabled': false,
      'git.openRepositoryInParentFolders': 'never',
      // User settings: the only place the interpreter may come from.
      'diffill.pythonPath': python(),
      'diffill.finetuneSteps': FT_STEPS,
      'diffill.finetuneDevice': 'cpu',
      'diffill.threads': 1,
    }),
  );
  const target = installExtension(extensions, tinyModel());
  // The trainer package ships with the extension (the language server runs it from there).
  cpSync(join(ROOT, 'server', 'training', 'python', 'diffill_trainer'), join(target, 'server', 'training', 'python', 'diffill_trainer'), {
    recursive: true,
    filter: (src) => !src.includes('__pycache__'),
  });

  const port = await freePort();
  const server = spawn(
    join(HERE, 'node_modules', '.bin', 'code-server'),
    ['--auth', 'none', '--bind-addr', `127.0.0.1:${port}`, '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust',
      '--extensions-dir', extensions, '--user-data-dir', userData, workspace],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '', OMP_NUM_THREADS: '1' }, detached: true },
  );
  let browser;
  try {
    await waitForHttp(`http://127.0.0.1:${port}/healthz`, server, 60_000);
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.setDefaultTimeout(STEP_TIMEOUT);
    const previousPage = currentPage;
    currentPage = page;
    try {
      await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`);
      await page.waitForSelector('.monaco-workbench');
      const status = page.locator('.statusbar-item', { hasText: 'Diffill:' }).first();
      const label = async () => (await status.getAttribute('aria-label', { timeout: 1000 }).catch(() => '')) ?? '';
      const deadline = Date.now() + STEP_TIMEOUT;
      while (!/Diffill (idle|ready)/.test(await label())) {
        if (Date.now() > deadline) throw new Error(`the server did not start (status: ${await label()})`);
        await page.waitForTimeout(200);
      }
      await page.keyboard.press('F1');
      const input = page.locator('.quick-input-widget input');
      await input.waitFor();
      await input.fill('>Diffill: Fine-tune on This Workspace');
      await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Fine-tune on This Workspace' }).first().waitFor();
      await page.keyboard.press('Enter');

      // The cancellable progress notification, with the trainer's step, loss and ETA.
      const toast = page.locator('.notifications-toasts .notification-toast', { hasText: 'Diffill: fine-tuning' }).first();
      await toast.waitFor({ timeout: 30_000 });
      let sawStep = false;
      let sawTraining = false;
      let finalLabel = '';
      const end = Date.now() + 240_000;
      for (;;) {
        const text = (await toast.textContent({ timeout: 200 }).catch(() => '')) ?? '';
        if (/step \d+\/\d+ · loss [\d.]+ · .* tok\/s · ETA/.test(text)) {
          if (!sawStep) await page.screenshot({ path: join(SHOTS, 'finetune-progress.png') });
          sawStep = true;
        }
        const l = await label();
        if (/Diffill training/.test(l)) sawTraining = true;
        if (/Diffill ready \(model \d{4}-\d\d-\d\dT[\d-]+Z\)/.test(l)) {
          finalLabel = l;
          break;
        }
        const failure = page.locator('.notifications-toasts .notification-toast', { hasText: /Diffill: fine-tuning failed/ }).first();
        if (await failure.isVisible().catch(() => false)) {
          throw new Error(`fine-tuning failed: ${((await failure.textContent().catch(() => '')) ?? '').trim()}`);
        }
        if (Date.now() > end) throw new Error(`fine-tuning did not finish (status: ${l})`);
        await page.waitForTimeout(100);
      }
      if (!sawStep) throw new Error('the progress notification never showed a training step');
      if (!sawTraining) throw new Error('the status never said training');
      log(`  status after fine-tuning: ${finalLabel}`);
      await page.locator('.notifications-toasts .notification-toast', { hasText: /now using the fine-tuned model/ }).first().waitFor({ timeout: 30_000 });
      // The report opens in a markdown preview.
      await page.locator('.tab', { hasText: /finetune-report/ }).first().waitFor({ timeout: 30_000 });
      await page.waitForTimeout(2000); // the preview renders in a webview after its tab appears
      await page.screenshot({ path: join(SHOTS, 'finetune-done.png') });
    } finally {
      currentPage = previousPage;
    }
  } finally {
    await browser?.close().catch(() => undefined);
    await stopGroup(server);
  }
}

async function main() {
  setup();
  mkdirSync(SHOTS, { recursive: true });
  const model = modelDir();
  const dirs = prepareWorkspace();
  const ext = installExtension(dirs.extensions, model);
  log(`extension installed in ${ext} (model: ${model})`);

  const port = await freePort();
  const codeServer = spawn(
    join(HERE, 'node_modules', '.bin', 'code-server'),
    [
      '--auth', 'none',
      '--bind-addr', `127.0.0.1:${port}`,
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--extensions-dir', dirs.extensions,
      '--user-data-dir', dirs.userData,
      dirs.workspace,
    ],
    // Its own process group, so that stopping it also stops the helpers it forks (file watcher,
    // extension host, language server).
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' }, detached: true },
  );
  let serverLog = '';
  codeServer.stdout.on('data', (d) => (serverLog += d));
  codeServer.stderr.on('data', (d) => (serverLog += d));

  const { chromium } = await import('playwright-core');
  let browser;
  try {
    await waitForHttp(`http://127.0.0.1:${port}/healthz`, codeServer, 60_000);
    log(`code-server listening on ${port}`);
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.setDefaultTimeout(STEP_TIMEOUT);
    currentPage = page;
    await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(dirs.workspace)}`);
    await page.waitForSelector('.monaco-workbench');
    const status = page.locator('.statusbar-item', { hasText: 'Diffill:' }).first();

    const statusText = async () => ((await status.textContent({ timeout: 1000 }).catch(() => '')) ?? '').trim();
    const waitStatus = async (what, pattern, timeoutMs = STEP_TIMEOUT) => {
      const deadline = Date.now() + timeoutMs;
      let text = '';
      while (Date.now() < deadline) {
        text = await statusText();
        if (pattern.test(text)) return text;
        await page.waitForTimeout(200);
      }
      throw new Error(`status bar never showed ${what} (last: "${text}")`);
    };

    /**
     * Waits for `locator` to be visible; fails at once (with the reason) when the server reports an
     * error status or Diffill shows an error notification, instead of waiting out the timeout.
     */
    const visibleOrError = async (what, locator, timeoutMs = STEP_TIMEOUT) => {
      const deadline = Date.now() + timeoutMs;
      // Error toasts, and the "nothing to do" answers (no blanks found, the model wrote nothing).
      const errorToast = page
        .locator('.notifications-toasts .notification-toast', { hasText: /Diffill: (.* failed|no blanks|the model wrote nothing)/ })
        .first();
      while (Date.now() < deadline) {
        if (await locator.isVisible().catch(() => false)) return;
        if (await errorToast.isVisible().catch(() => false)) {
          const message = await errorToast.locator('.notification-list-item-message').first().textContent().catch(() => null);
          throw new Error(`${what}: ${(message ?? 'a Diffill notification').trim()}`);
        }
        const text = await statusText();
        if (/Diffill: error/.test(text)) {
          const tooltip = await status.getAttribute('aria-label').catch(() => null);
          throw new Error(`${what}: the server reports an error (${tooltip ?? text}); see the Diffill log`);
        }
        await page.waitForTimeout(200);
      }
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    };

    const openFile = async (name) => {
      const row = page.locator('.explorer-folders-view .monaco-list-row', { hasText: name }).first();
      await row.dblclick();
      await page.locator('.tab.active', { hasText: name }).waitFor();
      const editor = page.locator('.editor-instance .monaco-editor').first();
      await editor.waitFor();
      return editor;
    };
    const runCommand = async (title) => {
      await page.keyboard.press('F1');
      const input = page.locator('.quick-input-widget input');
      await input.waitFor();
      await input.fill(`>${title}`);
      await page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first().waitFor();
      await page.keyboard.press('Enter');
    };
    const save = async () => {
      await page.keyboard.press('Control+s');
    };
    const onDisk = (name) => readFileSync(join(dirs.workspace, name), 'utf8');

    await check('the extension starts its language server (status bar item)', async () => {
      await waitStatus('a started server', /Diffill: (idle|ready)/);
    });

    // Two cases, so that neither hides the other: the automatic, debounced request that typing makes
    // (no explicit request to fall back on), and the explicit one (Alt+\\ or the palette).
    const ghost = page.locator('.ghost-text-decoration, .ghost-text').first();
    await check('ghost text appears by itself while typing (debounced) and Tab accepts it', async () => {
      const editor = await openFile('ghost.py');
      await editor.click();
      await page.keyboard.press('Control+End');
      await page.keyboard.type('def add(a, b):\n');
      await page.keyboard.type('return a');
      await visibleOrError('ghost text from the automatic request', ghost, 45_000);
      await page.screenshot({ path: join(SHOTS, 'ghost-text.png') });
      await save();
      const typed = await until('the typed text on disk', () => onDisk('ghost.py'), (t) => t.endsWith('return a'));
      await page.keyboard.press('Tab');
      await save();
      // Saving truncates then writes: only a complete, longer file counts as the accepted text.
      const accepted = await until('the accepted completion on disk', () => onDisk('ghost.py'), (t) => t.startsWith(typed) && t.length > typed.length);
      await page.screenshot({ path: join(SHOTS, 'ghost-text-accepted.png') });
      // What Tab accepted at the end of the file must leave it valid Python, as a user needs it.
      const parsed = spawnSync('python3', ['-c', 'import ast, sys; ast.parse(sys.stdin.read())'], { input: accepted, encoding: 'utf8' });
      if (parsed.status !== 0) throw new Error(`the accepted ghost text leaves ghost.py unparseable:\n${accepted}\n${parsed.stderr}`);
      await waitStatus('a latency after the request', /Diffill: ready · \d+ ms/);
    });

    await check('an explicit request (Trigger Inline Suggestion) shows ghost text', async () => {
      // The file already ends where an answer is due; moving the cursor there types nothing, and
      // Escape dismisses anything shown, so only the explicit request can bring ghost text back.
      const editor = await openFile('explicit.py');
      await editor.click();
      await page.keyboard.press('Control+End');
      await page.keyboard.press('Escape');
      await ghost.waitFor({ state: 'hidden' });
      await runCommand('Trigger Inline Suggestion');
      await visibleOrError('ghost text after an explicit request', ghost, 30_000);
      await page.screenshot({ path: join(SHOTS, 'ghost-text-explicit.png') });
      await page.keyboard.press('Escape');
    });

    await check('Fill Blanks previews the fills and Accept applies them', async () => {
      await openFile('blanks.py');
      await runCommand('Diffill: Fill Blanks');
      const accept = page.locator('.notifications-toasts .monaco-button', { hasText: 'Accept' }).first();
      await visibleOrError('the fill preview', accept);
      await page.screenshot({ path: join(SHOTS, 'fill-blanks-preview.png') });
      await accept.click();
      await save();
      const filled = await until('filled blanks on disk', () => onDisk('blanks.py'), (t) => t.startsWith('def area(') && t.includes('print(area(3,') && !t.includes('___'));
      // Blanks replaced by nothing at all would also pass the check above.
      if (filled === FILES['blanks.py'].replace(/_{3,}/g, '')) throw new Error('the model filled every blank with nothing');
      await page.screenshot({ path: join(SHOTS, 'fill-blanks-filled.png') });
    });

    await check('Write What Comes Before inserts text above the cursor line', async () => {
      const editor = await openFile('before.py');
      await editor.click();
      await page.keyboard.press('Control+Home');
      await runCommand('Diffill: Write What Comes Before');
      const keep = page.locator('.notifications-toasts .monaco-button', { hasText: 'Keep' }).first();
      await visibleOrError('the written text', keep);
      await page.screenshot({ path: join(SHOTS, 'write-before.png') });
      await keep.click();
      await save();
      // The original text must follow what was written, unchanged.
      await until('written text on disk', () => onDisk('before.py'), (t) => t.endsWith(FILES['before.py']) && t.length > FILES['before.py'].length);
    });

    await check('Set Guidance Strength reaches the server (status bar)', async () => {
      await runCommand('Diffill: Set Guidance Strength');
      const row = page.locator('.quick-input-list .monaco-list-row', { hasText: 'Strong' }).first();
      await row.waitFor();
      await row.click();
      // The status text comes from the server's diffill/status notification, so this proves the
      // server applied the new value.
      await waitStatus('guidance 2', /guidance 2\b/);
      await page.screenshot({ path: join(SHOTS, 'guidance.png') });
    });

    await check('Toggle turns completions off (model released) and on again', async () => {
      await runCommand('Diffill: Toggle Inline Completions');
      await waitStatus('disabled', /Diffill: disabled/);
      await runCommand('Diffill: Toggle Inline Completions');
      await waitStatus('idle again', /Diffill: idle/);
    });

    await check('Fine-tune on This Workspace shows progress, then serves the new model', async () => {
      await finetuneScenario(chromium);
    });
  } catch (err) {
    results.push({ name: 'harness', ok: false });
    log(`harness failed: ${err instanceof Error ? err.stack : String(err)}`);
    log(`code-server output:\n${serverLog.slice(-4000)}`);
  } finally {
    await browser?.close().catch(() => undefined);
    await stopGroup(codeServer);
  }

  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  if (failed > 0) {
    const logs = join(dirs.userData, 'logs');
    log(`extension logs are under ${logs}`);
  }
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  process.exitCode = failed === 0 ? 0 : 1;
}

main().catch((err) => {
  process.stdout.write(`e2e harness error: ${err instanceof Error ? err.stack : String(err)}\n0 passed, 1 failed\n`);
  process.exitCode = 1;
});
