// @ts-check
// What the desktop suites share: waiting, the Diffill log, and answering Diffill's notifications.
//
// The vscode API cannot read another extension's notifications, status bar item or output channel,
// so the suites observe the extension the way its log does: the Diffill log channel is a file in the
// profile's logs folder, and at trace level (runTest.mjs passes --log diffill.diffill:trace) the
// language client writes every LSP message into it, with parameters ("diffill.trace.server": "verbose").
const fs = require('node:fs');
const path = require('node:path');
const vscode = require('vscode');

const EXTENSION_ID = 'diffill.diffill';

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `read` until `ok` holds for its value; returns that value or throws with the last one seen.
 * @template T
 * @param {string} what
 * @param {() => T | Promise<T>} read
 * @param {(value: T) => boolean} ok
 * @param {number} [timeoutMs]
 * @returns {Promise<T>}
 */
async function until(what, read, ok, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  /** @type {T | undefined} */
  let last;
  for (;;) {
    last = await read();
    if (ok(last)) return last;
    if (Date.now() > deadline) break;
    await sleep(200);
  }
  const shown = typeof last === 'string' ? last.slice(-400) : JSON.stringify(last);
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last value: ${shown}`);
}

/**
 * A promise's outcome, readable without awaiting: the suites start a command that only finishes once
 * its notification is answered, answer it, then wait for it.
 * @template T
 * @param {Thenable<T>} thenable
 */
function track(thenable) {
  /** @type {{ settled: boolean, error: unknown, promise: Promise<void> }} */
  const state = { settled: false, error: undefined, promise: Promise.resolve() };
  state.promise = Promise.resolve(thenable).then(
    () => {
      state.settled = true;
    },
    (err) => {
      state.settled = true;
      state.error = err;
    },
  );
  return state;
}

/** The profile folder runTest.mjs made for this run. */
function userDataDir() {
  const dir = process.env.DIFFILL_ELECTRON_USER_DATA;
  if (!dir) throw new Error('DIFFILL_ELECTRON_USER_DATA is not set: run the suite through test/electron/runTest.mjs');
  return dir;
}

/**
 * Every `Diffill.log` of the extension under `dir` (VS Code keeps extension log channels in
 * logs/<start time>/window<N>/exthost/<extension id>/<channel name>.log).
 * @param {string} dir
 * @returns {string[]}
 */
function findLogs(dir) {
  /** @type {string[]} */
  const found = [];
  /** @param {string} d */
  const walk = (d) => {
    /** @type {fs.Dirent[]} */
    let entries;
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name === 'Diffill.log' && path.basename(d) === EXTENSION_ID) found.push(p);
    }
  };
  walk(path.join(dir, 'logs'));
  return found;
}

/** The Diffill log of this window: the newest one in the profile (a fresh profile has one). */
function diffillLogText() {
  const logs = findLogs(userDataDir());
  if (logs.length === 0) return '';
  logs.sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  return fs.readFileSync(/** @type {string} */ (logs[0]), 'utf8');
}

/** A mark in the log: later waits look only at what was written after it. */
function logMark() {
  return diffillLogText().length;
}

/**
 * The log split into entries: each starts with VS Code's "YYYY-MM-DD HH:MM:SS.mmm [level]" prefix and
 * may span lines (a traced message is followed by its parameters as indented JSON).
 * @param {string} text
 */
function logEntries(text) {
  return text.split(/\r?\n(?=\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} \[)/);
}

/**
 * Waits until one log entry written after `mark` matches `pattern`; fails at once when one matches
 * `failure` (an error the extension reported) instead of waiting out the timeout.
 * @param {string} what
 * @param {RegExp} pattern
 * @param {{ mark?: number, failure?: RegExp, timeoutMs?: number }} [options]
 * @returns {Promise<string>} the matching entry
 */
async function waitForLog(what, pattern, { mark = 0, failure, timeoutMs = 120_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let text = '';
  for (;;) {
    text = diffillLogText().slice(mark);
    const entries = logEntries(text);
    const hit = entries.find((e) => pattern.test(e));
    if (hit !== undefined) return hit;
    const bad = failure === undefined ? undefined : entries.find((e) => failure.test(e));
    if (bad !== undefined) throw new Error(`${what}: the extension reported a failure: ${bad.split('\n').slice(0, 6).join('\n')}`);
    if (Date.now() > deadline) break;
    await sleep(250);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} in the Diffill log; its end:\n${text.slice(-1500)}`);
}

/** Activates the extension under development (it also activates on startup) and returns it. */
async function activateDiffill() {
  const ext = vscode.extensions.getExtension(EXTENSION_ID);
  if (ext === undefined) throw new Error(`extension ${EXTENSION_ID} is not loaded: is the repository the extensionDevelopmentPath?`);
  await ext.activate();
  return ext;
}

/**
 * Opens a workspace file in an editor (focused, as a user's click would).
 * @param {string} name
 */
async function openWorkspaceFile(name) {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (folder === undefined) throw new Error('no workspace folder is open');
  const doc = await vscode.workspace.openTextDocument(vscode.Uri.joinPath(folder.uri, name));
  const editor = await vscode.window.showTextDocument(doc, { preview: false });
  return { doc, editor };
}

/**
 * Answers the notification a running command waits for, then waits for the command to finish.
 *
 * `command` is `notification.acceptPrimaryAction` (the Ctrl+Shift+A binding: the newest
 * notification's first button, e.g. Accept or Keep) or `notifications.clearAll` (closing it, i.e. no
 * choice). It is repeated until the command finishes, because the notification appears a moment
 * after the event the caller waited for. Callers must only call this once the command's progress
 * notification is gone: its primary action is Cancel.
 * @param {{ settled: boolean, error: unknown, promise: Promise<void> }} running
 * @param {'notification.acceptPrimaryAction' | 'notifications.clearAll'} command
 * @param {number} [timeoutMs]
 */
async function answer(running, command, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!running.settled) {
    if (Date.now() > deadline) throw new Error(`the command did not finish within ${timeoutMs} ms after ${command}`);
    await vscode.commands.executeCommand(command);
    await sleep(300);
  }
  await running.promise;
  if (running.error !== undefined) throw running.error;
}

module.exports = {
  EXTENSION_ID,
  activateDiffill,
  answer,
  diffillLogText,
  logEntries,
  logMark,
  openWorkspaceFile,
  sleep,
  track,
  until,
  waitForLog,
};
