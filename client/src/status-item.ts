// The status bar entry: server state, model and last latency, fed by the `diffill/status`
// notification. Clicking it opens the Diffill menu (guidance, toggle, log).
import * as vscode from 'vscode';
import type { RoleStatus, ServerState, StatusParams } from '../../server/src/protocol';

const ICONS: Record<ServerState, string> = {
  idle: '$(circle-outline)',
  loading: '$(loading~spin)',
  ready: '$(check)',
  busy: '$(sync~spin)',
  training: '$(beaker)',
  error: '$(error)',
  disabled: '$(circle-slash)',
};

const ROLE_NAMES: Record<RoleStatus['role'], string> = { ghost: 'Ghost text', commands: 'Fill Blanks / Write Before' };

/** A parameter count as people say it: 12.0M, 1.1B. */
export function formatParams(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${Math.round(n / 1e3)}K`;
  return String(n);
}

/** One line per role: which model serves it and what it costs ("not yet measured" before a request). */
export function describeRole(r: RoleStatus): string {
  const model = r.model === null ? '(none)' : r.shared ? `${r.model} (the ghost-text model)` : r.model;
  const size = r.params !== null ? ` · ${formatParams(r.params)} params` : r.loaded ? '' : ' · not loaded yet';
  const cost = r.medianLatencyMs !== null ? ` · median ${r.medianLatencyMs} ms over ${r.requests} request${r.requests === 1 ? '' : 's'}` : ' · not yet measured';
  return `${ROLE_NAMES[r.role]}: ${model}${size}${cost}`;
}

export class StatusItem implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('diffill.status', vscode.StatusBarAlignment.Right, 100);

  constructor() {
    this.item.name = 'Diffill';
    this.item.command = 'diffill.menu';
    this.show({ state: 'loading', model: null, message: 'starting the language server', lastLatencyMs: null, guidance: 0, models: [] });
    this.item.show();
  }

  show(status: StatusParams): void {
    const parts = [`${ICONS[status.state]} Diffill: ${status.state}`];
    if (status.lastLatencyMs !== null && (status.state === 'ready' || status.state === 'busy')) parts.push(`${status.lastLatencyMs} ms`);
    if (status.guidance > 0) parts.push(`guidance ${status.guidance}`);
    this.item.text = parts.join(' · ');
    const tooltip = new vscode.MarkdownString();
    tooltip.appendMarkdown(`**Diffill** — ${status.state}\n\n`);
    // Older servers send no `models`: then the one model they serve.
    const roles = status.models ?? [];
    if (roles.length > 0) for (const r of roles) tooltip.appendText(`${describeRole(r)}\n\n`);
    else tooltip.appendMarkdown(`Model: ${status.model ?? '(not loaded yet)'}\n\n`);
    if (status.lastLatencyMs !== null) tooltip.appendMarkdown(`Last request: ${status.lastLatencyMs} ms\n\n`);
    tooltip.appendMarkdown(`Guidance: ${status.guidance}\n\n`);
    if (status.message !== null) tooltip.appendText(status.message);
    this.item.tooltip = tooltip;
    // Screen readers (and the end-to-end test) get the reason along with the state.
    const own = roles.find((r) => r.role === 'commands' && !r.shared && r.model !== null);
    const model = status.model !== null ? ` (model ${status.model}${own ? `, commands ${own.model}` : ''})` : '';
    this.item.accessibilityInformation = { label: `Diffill ${status.state}${model}${status.message !== null ? `: ${status.message}` : ''}` };
    this.item.backgroundColor = status.state === 'error' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
  }

  /** The server could not start or stopped: shown until it runs again. */
  showStopped(message: string): void {
    this.show({ state: 'error', model: null, message, lastLatencyMs: null, guidance: 0, models: [] });
  }

  dispose(): void {
    this.item.dispose();
  }
}
