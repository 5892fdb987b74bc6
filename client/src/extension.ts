// Extension entry point: activate/deactivate only. Everything else is in Ctx and the command table.
import * as vscode from 'vscode';
import { COMMANDS } from './commands';
import { Config } from './config';
import { Ctx } from './ctx';

let ctx: Ctx | null = null;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const c = new Ctx(context);
  ctx = c;
  context.subscriptions.push(c);
  const config = new Config();
  for (const [id, factory] of Object.entries(COMMANDS)) {
    context.subscriptions.push(vscode.commands.registerCommand(id, factory(c, config)));
  }
  try {
    await c.start();
  } catch (err) {
    // The editor does not tell the user when an extension fails to start, so we do.
    const message = err instanceof Error ? err.message : String(err);
    c.log.error(`the language server failed to start: ${message}`);
    c.status.showStopped(message);
    void vscode.window.showErrorMessage(`Diffill failed to start: ${message}`, 'Show Log').then((choice) => {
      if (choice === 'Show Log') c.log.show();
    });
  }
}

export async function deactivate(): Promise<void> {
  await ctx?.stop();
  ctx = null;
}
