// The status bar entry: server state, model and last latency, fed by the `diffill/status`
// notification. Clicking it opens the Diffill menu (guidance, toggle, log).
import * as vscode from 'vscode';
import type { ServerState, StatusParams } from '../../server/src/protocol';

const ICONS: Record<ServerState, string> = {
  idle: '$(circle-outline)',
  loading: '$(loading~spin)',
  ready: '$(check)',
  busy: '$(sync~spin)',
  training: '$(beaker)',
  error: '$(error)',
  disabled: '$(circle-slash)',
};

export class StatusItem implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('diffill.status', vscode.StatusBarAlignment.Right, 100);

  constructor() {
    this.item.name = 'Diffill';
    this.item.command = 'diffill.menu';
    this.show({ state: 'loading', model: null, message: 'starting the language server', lastLatencyMs: null, guidance: 0 });
    this.item.show();
  }

  show(status: StatusParams): void {
    const parts = [`${ICONS[status.state]} Diffill: ${status.state}`];
    if (status.lastLatencyMs !== null && (status.state === 'ready' || status.state === 'busy')) parts.push(`${status.lastLatencyMs} ms`);
    if (status.guidance > 0) parts.push(`guidance ${status.guidance}`);
    this.item.text = parts.join(' · ');
    const tooltip = new vscode.MarkdownString();
    tooltip.appendMarkdown(`**Diffill** — ${status.state}\n\n`);
    tooltip.appendMarkdown(`Model: ${status.model ?? '(not loaded yet)'}\n\n`);
    if (status.lastLatencyMs !== null) tooltip.appendMarkdown(`Last request: ${status.lastLatencyMs} ms\n\n`);
    tooltip.appendMarkdown(`Guidance: ${status.guidance}\n\n`);
    if (status.message !== null) tooltip.appendText(status.message);
    this.item.tooltip = tooltip;
    // Screen readers (and the end-to-end test) get the reason along with the state.
    const model = status.model !== null ? ` (model ${status.model})` : '';
    this.item.accessibilityInformation = { label: `Diffill ${status.state}${model}${status.message !== null ? `: ${status.message}` : ''}` };
    this.item.backgroundColor = status.state === 'error' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
  }

  /** The server could not start or stopped: shown until it runs again. */
  showStopped(message: string): void {
    this.show({ state: 'error', model: null, message, lastLatencyMs: null, guidance: 0 });
  }

  dispose(): void {
    this.item.dispose();
  }
}
