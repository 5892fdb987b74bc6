// The extension's commands, one factory per command id. Each gets the Ctx and fails with a clear
// message when the server is not running; request errors go to a notification with a log link.
import * as vscode from 'vscode';
import { LSPErrorCodes, ResponseError } from 'vscode-languageclient/node';
import { FillBlanksRequest, SetSamplerOptionsRequest, WriteBeforeRequest } from '../../server/src/protocol';
import { Config } from './config';
import type { Ctx } from './ctx';
import { applyWrittenBefore, previewFills } from './edit-preview';
import { cancelFinetune, finetune, usePreviousModel } from './finetune-commands';

type Command = (ctx: Ctx, config: Config) => (...args: unknown[]) => Promise<void>;

async function report(ctx: Ctx, what: string, err: unknown): Promise<void> {
  if (err instanceof ResponseError && err.code === LSPErrorCodes.RequestCancelled) return;
  if (err instanceof vscode.CancellationError) return;
  const message = err instanceof Error ? err.message : String(err);
  ctx.log.error(`${what}: ${message}`);
  const choice = await vscode.window.showErrorMessage(`Diffill: ${what} failed: ${message}`, 'Show Log');
  if (choice === 'Show Log') ctx.log.show();
}

function activeEditor(): vscode.TextEditor {
  const editor = vscode.window.activeTextEditor;
  if (editor === undefined) throw new Error('open a file first');
  return editor;
}

const fillBlanks: Command = (ctx) => async () => {
  try {
    const client = ctx.runningClient;
    const editor = activeEditor();
    // Multiple cursors or a selection name the blanks; a single plain cursor means "every ___".
    const explicit = editor.selections.length > 1 || !editor.selection.isEmpty;
    const params = {
      textDocument: { uri: editor.document.uri.toString() },
      ...(explicit ? { ranges: editor.selections.map((s) => client.code2ProtocolConverter.asRange(s)) } : {}),
    };
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'Diffill: filling blanks…', cancellable: true },
      (_progress, token) => client.sendRequest(FillBlanksRequest, params, token),
    );
    if (result.blanks.length === 0) {
      void vscode.window.showInformationMessage('Diffill: no blanks found. Mark them with ___ or select them (multiple cursors work too).');
      return;
    }
    // The log keeps what the model wrote even when the preview is rejected, and marks the moment the
    // preview opens (the desktop end-to-end test waits for it before answering the preview).
    ctx.log.info(`fill blanks: filled ${result.blanks.length} blank(s) in ${result.latencyMs} ms; preview shown`);
    await previewFills(client, editor, result);
  } catch (err) {
    await report(ctx, 'fill blanks', err);
  }
};

const writeBefore: Command = (ctx) => async () => {
  try {
    const client = ctx.runningClient;
    const editor = activeEditor();
    const line = editor.selection.active.line;
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'Diffill: writing what comes before…', cancellable: true },
      (_progress, token) => client.sendRequest(WriteBeforeRequest, { textDocument: { uri: editor.document.uri.toString() }, line }, token),
    );
    if (result.text.length === 0) {
      void vscode.window.showInformationMessage('Diffill: the model wrote nothing here.');
      return;
    }
    await applyWrittenBefore(client, editor, line, result);
  } catch (err) {
    await report(ctx, 'write before', err);
  }
};

const GUIDANCE_CHOICES: ReadonlyArray<{ label: string; value: number | null; detail: string }> = [
  { label: '0', value: 0, detail: 'Off: fastest' },
  { label: '0.5', value: 0.5, detail: 'Light' },
  { label: '1', value: 1, detail: 'Moderate' },
  { label: '2', value: 2, detail: 'Strong: follows the surrounding text closely' },
  { label: '3', value: 3, detail: 'Very strong' },
  { label: 'Custom…', value: null, detail: 'Any value from 0 to 5' },
];

const setGuidance: Command = (ctx, config) => async (arg?: unknown) => {
  try {
    const client = ctx.runningClient;
    let value: number | undefined = typeof arg === 'number' ? arg : undefined;
    if (value === undefined) {
      const pick = await vscode.window.showQuickPick(
        GUIDANCE_CHOICES.map((c) => ({ ...c, description: c.value === config.guidance ? '(setting)' : '' })),
        { title: 'Diffill: guidance strength', placeHolder: 'How strongly the text around the gap steers the model' },
      );
      if (pick === undefined) return;
      if (pick.value !== null) value = pick.value;
      else {
        const input = await vscode.window.showInputBox({
          title: 'Diffill: guidance strength',
          prompt: 'A number from 0 (off) to 5',
          validateInput: (text) => {
            const n = Number(text);
            return text.trim() !== '' && Number.isFinite(n) && n >= 0 && n <= 5 ? null : 'Enter a number from 0 to 5';
          },
        });
        if (input === undefined) return;
        value = Number(input);
      }
    }
    const effective = await client.sendRequest(SetSamplerOptionsRequest, { guidance: value });
    ctx.log.info(`guidance set to ${effective.guidance}`);
    void vscode.window.setStatusBarMessage(`Diffill: guidance ${effective.guidance}`, 3000);
  } catch (err) {
    await report(ctx, 'set guidance', err);
  }
};

const toggle: Command = (_ctx, config) => async () => {
  const on = !config.enable;
  await config.setEnable(on);
  void vscode.window.setStatusBarMessage(`Diffill inline completions ${on ? 'on' : 'off'}`, 3000);
};

const showLog: Command = (ctx) => async () => {
  ctx.log.show();
};

/** The status item's menu: the same commands, one click away. */
const menu: Command = () => async () => {
  const pick = await vscode.window.showQuickPick(
    [
      { label: '$(settings) Set Guidance Strength', command: 'diffill.setGuidance' },
      { label: '$(circle-slash) Toggle Inline Completions', command: 'diffill.toggle' },
      { label: '$(beaker) Fine-tune on This Workspace', command: 'diffill.finetune' },
      { label: '$(history) Use Previous Model', command: 'diffill.usePreviousModel' },
      { label: '$(output) Show Log', command: 'diffill.showLog' },
    ],
    { title: 'Diffill' },
  );
  if (pick !== undefined) await vscode.commands.executeCommand(pick.command);
};

export const COMMANDS: Readonly<Record<string, Command>> = {
  'diffill.fillBlanks': fillBlanks,
  'diffill.writeBefore': writeBefore,
  'diffill.setGuidance': setGuidance,
  'diffill.toggle': toggle,
  'diffill.showLog': showLog,
  'diffill.menu': menu,
  'diffill.finetune': finetune,
  'diffill.cancelFinetune': cancelFinetune,
  'diffill.usePreviousModel': usePreviousModel,
};
