// Typed read access to the `diffill.*` settings. The schema is package.json
// `contributes.configuration`; the server reads the same settings itself over LSP.
import * as vscode from 'vscode';

export const SECTION = 'diffill';

export class Config {
  private get<T>(key: string, fallback: T): T {
    return vscode.workspace.getConfiguration(SECTION).get<T>(key, fallback);
  }

  get enable(): boolean {
    return this.get('enable', true);
  }

  get guidance(): number {
    return this.get('guidance', 0);
  }

  /**
   * The Python interpreter for fine-tuning, from the user's own settings only: a workspace could
   * otherwise make the editor run a program of its choosing (the setting is also machine-scoped).
   */
  get userPythonPath(): string {
    const value = vscode.workspace.getConfiguration(SECTION).inspect<string>('pythonPath')?.globalValue;
    return typeof value === 'string' ? value.trim() : '';
  }

  get finetuneSteps(): number {
    return this.get('finetuneSteps', 0);
  }

  get finetuneMinutes(): number {
    return this.get('finetuneMinutes', 10);
  }

  get finetuneDevice(): 'auto' | 'cpu' | 'cuda' {
    const d = this.get<string>('finetuneDevice', 'auto');
    return d === 'cpu' || d === 'cuda' ? d : 'auto';
  }

  /** Turns inline completions on or off for the user (not per workspace). */
  async setEnable(on: boolean): Promise<void> {
    await vscode.workspace.getConfiguration(SECTION).update('enable', on, vscode.ConfigurationTarget.Global);
  }
}
