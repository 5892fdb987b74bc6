// "Fine-tune on This Workspace", "Cancel Fine-tuning" and "Use Previous Model". The language server
// runs the job (it owns the model and hot-swaps it); the editor shows a cancellable progress
// notification, then the report in a markdown preview.
import * as vscode from 'vscode';
import { LSPErrorCodes, ResponseError } from 'vscode-languageclient/node';
import {
  FinetuneCancelRequest,
  FinetuneRequest,
  UsePreviousModelRequest,
  type FinetuneParams,
  type FinetuneResult,
} from '../../server/src/protocol';
import type { Config } from './config';
import type { Ctx } from './ctx';

type Command = (ctx: Ctx, config: Config) => (...args: unknown[]) => Promise<void>;

/** Optional command arguments (keybindings, other extensions, tests): override the settings. */
interface FinetuneArgs {
  steps?: number;
  minutes?: number;
  facts?: string;
}

function parseArgs(arg: unknown): FinetuneArgs {
  if (arg === null || typeof arg !== 'object') return {};
  const a = arg as Record<string, unknown>;
  const out: FinetuneArgs = {};
  if (typeof a['steps'] === 'number') out.steps = a['steps'];
  if (typeof a['minutes'] === 'number') out.minutes = a['minutes'];
  if (typeof a['facts'] === 'string') out.facts = a['facts'];
  return out;
}

function untrusted(): Error {
  return new Error(
    "fine-tuning is disabled in untrusted workspaces: it runs a Python interpreter on the workspace's files. Trust the workspace first (Workspaces: Manage Workspace Trust).",
  );
}

async function showFailure(ctx: Ctx, what: string, err: unknown): Promise<void> {
  const message = err instanceof Error ? err.message : String(err);
  ctx.log.error(`${what}: ${message}`);
  // The first line in the toast; the trainer's last lines are in the log.
  const first = message.split('\n')[0] ?? message;
  const choice = await vscode.window.showErrorMessage(`Diffill: ${what} failed: ${first}`, 'Show Log');
  if (choice === 'Show Log') ctx.log.show();
}

const isCancel = (err: unknown) =>
  (err instanceof ResponseError && err.code === LSPErrorCodes.RequestCancelled) || err instanceof vscode.CancellationError;

export const finetune: Command = (ctx, config) => async (arg?: unknown) => {
  try {
    if (!vscode.workspace.isTrusted) throw untrusted();
    const folder = ctx.workspaceFolder;
    if (folder === undefined) throw new Error('open a folder first: fine-tuning learns from the files of the workspace folder');
    const storageDir = ctx.storageDir;
    if (storageDir === undefined) throw new Error('this workspace has no extension storage to keep fine-tuned models in');
    const client = ctx.runningClient;
    const args = parseArgs(arg);
    const steps = args.steps ?? config.finetuneSteps;
    const params: FinetuneParams = {
      workspace: folder.uri.fsPath,
      storageDir,
      // Always sent (empty = the server's defaults), so the server never falls back to a value it
      // read from workspace settings.
      python: config.userPythonPath,
      ...(steps > 0 ? { steps } : { minutes: args.minutes ?? config.finetuneMinutes }),
      device: config.finetuneDevice,
      ...(args.facts !== undefined ? { facts: args.facts } : {}),
      filesExclude: vscode.workspace.getConfiguration('files', folder.uri).get<Record<string, boolean | { when: string }>>('exclude') ?? {},
    };
    ctx.log.info(`fine-tuning on ${params.workspace} (${steps > 0 ? `${steps} steps` : `${params.minutes} minutes`}, device ${params.device})`);
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'Diffill: fine-tuning', cancellable: true },
      async (progress, token): Promise<FinetuneResult> => {
        let shown = 0;
        const sub = ctx.onFinetuneProgress((p) => {
          // The bar follows the training steps; the other phases only change the message.
          const fraction = p.step !== null && p.totalSteps ? Math.min(1, p.step / p.totalSteps) : null;
          const increment = fraction !== null ? Math.max(0, fraction * 100 - shown) : undefined;
          if (increment !== undefined) shown += increment;
          progress.report({ message: p.message, ...(increment !== undefined ? { increment } : {}) });
        });
        const onCancel = token.onCancellationRequested(() => {
          void client.sendRequest(FinetuneCancelRequest, {}).catch(() => undefined);
        });
        try {
          progress.report({ message: 'starting…' });
          return await client.sendRequest(FinetuneRequest, params);
        } finally {
          sub.dispose();
          onCancel.dispose();
        }
      },
    );
    const summary = `held-out loss ${result.baseValLoss.toFixed(3)} → ${result.valLoss.toFixed(3)}`;
    ctx.log.info(`fine-tuned model ${result.model} installed (${summary}); report: ${result.reportPath}`);
    await vscode.commands.executeCommand('markdown.showPreview', vscode.Uri.file(result.reportPath));
    const message = result.served
      ? `Diffill: now using the fine-tuned model ${result.model} (${summary}).`
      : `Diffill: fine-tuned model ${result.model} installed (${summary}), but diffill.modelPath selects another model.`;
    const choice = await vscode.window.showInformationMessage(message, 'Use Previous Model');
    if (choice === 'Use Previous Model') await vscode.commands.executeCommand('diffill.usePreviousModel');
  } catch (err) {
    if (isCancel(err)) {
      void vscode.window.showInformationMessage('Diffill: fine-tuning cancelled; the model in use is unchanged.');
      return;
    }
    await showFailure(ctx, 'fine-tuning', err);
  }
};

export const cancelFinetune: Command = (ctx) => async () => {
  try {
    const { cancelled } = await ctx.runningClient.sendRequest(FinetuneCancelRequest, {});
    if (!cancelled) void vscode.window.showInformationMessage('Diffill: no fine-tuning is running.');
  } catch (err) {
    await showFailure(ctx, 'cancel fine-tuning', err);
  }
};

export const usePreviousModel: Command = (ctx) => async () => {
  try {
    if (!vscode.workspace.isTrusted) throw untrusted();
    const folder = ctx.workspaceFolder;
    if (folder === undefined) throw new Error('open a folder first');
    const storageDir = ctx.storageDir;
    const result = await ctx.runningClient.sendRequest(UsePreviousModelRequest, {
      workspace: folder.uri.fsPath,
      ...(storageDir !== undefined ? { storageDir } : {}),
    });
    void vscode.window.showInformationMessage(`Diffill: now using ${result.model}.`);
  } catch (err) {
    await showFailure(ctx, 'use previous model', err);
  }
};
