// The extension's state: the language client (started from this extension's own dist/cli.js on the
// editor's Node through IPC), the status item and the output channel. Commands get a Ctx and ask it
// for a running client.
import * as vscode from 'vscode';
import { LanguageClient, State, TransportKind, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';
import { FinetuneProgressNotification, StatusNotification, type FinetuneProgressParams } from '../../server/src/protocol';
import { StatusItem } from './status-item';

export class ServerNotRunningError extends Error {
  override readonly name = 'ServerNotRunningError';
  constructor() {
    super('the Diffill language server is not running (see "Diffill: Show Log")');
  }
}

export class Ctx implements vscode.Disposable {
  readonly log: vscode.LogOutputChannel;
  readonly status: StatusItem;
  private client: LanguageClient | null = null;
  private readonly finetuneProgress = new vscode.EventEmitter<FinetuneProgressParams>();
  /** Progress of the server's fine-tuning job. */
  readonly onFinetuneProgress = this.finetuneProgress.event;

  constructor(private readonly extension: vscode.ExtensionContext) {
    this.log = vscode.window.createOutputChannel('Diffill', { log: true });
    this.status = new StatusItem();
  }

  /** The first workspace folder on disk: the one fine-tuning reads and the model store belongs to. */
  get workspaceFolder(): vscode.WorkspaceFolder | undefined {
    return vscode.workspace.workspaceFolders?.find((f) => f.uri.scheme === 'file');
  }

  /** This workspace's model store: the extension's per-workspace storage, never the workspace itself. */
  get storageDir(): string | undefined {
    const uri = this.extension.storageUri;
    return uri !== undefined && uri.scheme === 'file' ? vscode.Uri.joinPath(uri, 'models').fsPath : undefined;
  }

  async start(): Promise<void> {
    const module = this.extension.asAbsolutePath('dist/cli.js');
    // The server runs in the extension's own folder. Without a cwd the language client starts it in
    // the workspace folder, and anything it runs with a relative search path (a Python interpreter
    // puts its working directory first on the import path) could pick up the workspace's files.
    const cwd = this.extension.extensionPath;
    const serverOptions: ServerOptions = {
      run: { module, transport: TransportKind.ipc, args: ['lsp'], options: { cwd } },
      debug: { module, transport: TransportKind.ipc, args: ['lsp'], options: { cwd, execArgv: ['--nolazy', '--inspect=6011'] } },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
      outputChannel: this.log,
      // The server reports its own failures through the status item and the log; no popups for
      // every failed request while typing.
      connectionOptions: { maxRestartCount: 4 },
      // Where this workspace's fine-tuned models are, so the server serves the active one from the start.
      initializationOptions: {
        finetune: { workspace: this.workspaceFolder?.uri.fsPath, storageDir: this.storageDir },
      },
    };
    const client = new LanguageClient('diffill', 'Diffill', serverOptions, clientOptions);
    this.client = client;
    client.onDidChangeState((e) => {
      if (e.newState === State.Stopped) this.status.showStopped('the language server stopped');
    });
    client.onNotification(StatusNotification, (s) => this.status.show(s));
    client.onNotification(FinetuneProgressNotification, (p) => this.finetuneProgress.fire(p));
    await client.start();
  }

  /** The running client, or ServerNotRunningError. */
  get runningClient(): LanguageClient {
    if (this.client === null || !this.client.isRunning()) throw new ServerNotRunningError();
    return this.client;
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = null;
    if (client !== null && client.isRunning()) await client.stop();
  }

  dispose(): void {
    void this.stop();
    this.finetuneProgress.dispose();
    this.status.dispose();
    this.log.dispose();
  }
}
