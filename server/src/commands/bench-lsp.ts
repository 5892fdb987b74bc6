// The bench's end-to-end row: ghost text through the real language server. Spawns the built server
// (`node bin/diffill lsp --stdio`, i.e. dist/cli.js) as a child process, speaks LSP to it over its
// stdin/stdout like a minimal editor (Neovim, Helix), and times each `textDocument/inlineCompletion`
// from the moment the client sends it to the moment the response is read back. What this adds to the
// in-process "engine defaults" row is the server's share: JSON-RPC framing and parsing over pipes, the
// document store, the request's context cut, queueing in the model host, post-processing, the reply.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  createMessageConnection,
  InitializeRequest,
  InlineCompletionRequest,
  InlineCompletionTriggerKind,
  LogMessageNotification,
  StreamMessageReader,
  StreamMessageWriter,
  type InlineCompletionItem,
  type InlineCompletionList,
  type MessageConnection,
} from 'vscode-languageserver-protocol/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { packageRoot } from '../../common/paths';
import { StatusNotification, type StatusParams } from '../protocol';
import { editSimilarity, exactMatch, percentile, type Task } from './bench-metrics';

export const LSP_ROW_NAME = 'LSP inlineCompletion over stdio (engine defaults)';

/** Requests sent (and not counted) before the measured ones: the first pays for the model load. */
export const LSP_WARMUP = 2;

export interface LspBenchOptions {
  /** Model directory, as given to the bench. */
  model: string;
  /** Inference threads; undefined = the engine's automatic choice, as for the in-process rows. */
  threads: number | undefined;
  /** The tasks to ask for, in order (the bench passes its single-line tasks). */
  tasks: Task[];
  /** Context token budget; the in-process "engine defaults" row uses 512. */
  contextTokens?: number;
  /** The launcher to run with Node; default <package root>/bin/diffill (which loads dist/cli.js). */
  cli?: string;
  /** Longest wait for one response before the row is abandoned (the first includes the model load). */
  timeoutMs?: number;
}

export interface LspRequestRecord {
  task_id: string;
  /** Client-side round trip: sendRequest -> response parsed, in ms. */
  ms: number;
  /** The server's own model time for this request (its `diffill/status` lastLatencyMs), if reported. */
  server_ms: number | null;
  /** First item's insertText, '' when the server answered with no item (or null). */
  text: string;
  /** Characters after the cursor that the item replaces (auto-closed brackets). */
  replace_chars: number;
  exact_match: boolean;
  edit_similarity: number;
}

export interface LspOverhead {
  /** The in-process row compared with. */
  vs: string;
  /** Its single-line p50: the LSP row runs the single-line tasks only. */
  engine_single_line_p50_ms: number;
  /** LSP p50 / engine single-line p50. */
  ratio_p50: number;
  /** LSP p50 - engine single-line p50. */
  added_p50_ms: number;
}

export interface LspRow {
  setting: string;
  transport: 'stdio';
  /** How the server was started. */
  server_command: string;
  /** The `diffill.*` settings the server was given (initializationOptions.settings). */
  server_settings: Record<string, unknown>;
  context: number;
  tasks: number;
  warmup_requests: number;
  p50_ms: number;
  p95_ms: number;
  single_line_p50_ms: number;
  single_line_p95_ms: number;
  /** p50/p95 of the server-reported model time (engine work inside the server, no transport). */
  server_model_p50_ms: number;
  server_model_p95_ms: number;
  /** p50 of (round trip - server model time) per request: pipes, JSON-RPC, document store, queueing. */
  outside_model_p50_ms: number;
  exact_match: number;
  edit_similarity: number;
  /** Requests answered with no item (post-processing left nothing, or null). */
  empty: number;
  /** Filled in by the bench when the "engine defaults" row ran in the same process. */
  overhead: LspOverhead | null;
  requests: LspRequestRecord[];
}

/** The text in the gap once the item is accepted, against what the held-out document has there. */
export function scoreInsert(item: InlineCompletionItem | undefined, task: Task): { text: string; replaceChars: number; em: boolean; es: number } {
  const text = item === undefined ? '' : typeof item.insertText === 'string' ? item.insertText : item.insertText.value;
  const range = item?.range;
  const replaceChars = range !== undefined && range.end.line === range.start.line ? Math.max(0, range.end.character - range.start.character) : 0;
  // Accepting inserts `text` and overwrites `replaceChars` characters after the cursor (auto-closed
  // brackets), so the accepted document equals the held-out one exactly when `text` equals the
  // middle followed by those characters. With replaceChars = 0 this is the engine rows' comparison.
  const want = task.middle + task.suffix.slice(0, replaceChars);
  return { text, replaceChars, em: exactMatch(text, want), es: editSimilarity(text, want) };
}

/** Runs the tasks through a fresh language server; resolves to the row (overhead left null). */
export async function benchLsp(options: LspBenchOptions): Promise<LspRow> {
  const tasks = options.tasks;
  if (tasks.length === 0) throw new Error('the LSP bench needs at least one task');
  const cli = options.cli ?? join(packageRoot(), 'bin', 'diffill');
  const built = join(packageRoot(), 'dist', 'cli.js');
  if (options.cli === undefined && !existsSync(built)) throw new Error(`${built} is missing: run \`npm run build\` first (the LSP row runs the built server)`);
  const model = resolve(options.model);
  const contextTokens = options.contextTokens ?? 512;
  const timeoutMs = options.timeoutMs ?? 300_000;
  // One canvas size for the whole server (settings are global): the tasks' own, as the engine rows
  // use it. The suite's single-line tasks all have 32, which is also the server's default.
  const maxTokens = Math.max(...tasks.map((t) => t.max_tokens));
  const serverSettings = {
    enable: true,
    enabledLanguages: { '*': true },
    modelPath: model,
    threads: options.threads ?? 0,
    guidance: 0,
    maxTokens,
    contextTokens,
    // The server waits debounceMs (default 150) after an automatic request before it starts any
    // model work: that is the editor's pause for typing to stop, a fixed delay chosen by the user,
    // not a cost of the server. Counting it would only add 150 ms to every figure, so it is 0 here.
    debounceMs: 0,
  };
  // --model as well as modelPath: the server falls back to --model while modelPath is empty, so even
  // a request handled before the settings were applied would run on the benchmarked model.
  const args = [cli, 'lsp', '--stdio', '--model', model];
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-8000);
  });
  const log: string[] = [];
  const exited = new Promise<never>((_, reject) => {
    child.once('error', (err) => reject(new Error(`could not start the language server: ${err.message}`)));
    child.once('exit', (code, signal) => reject(new Error(`the language server exited (${signal ?? `code ${code}`})`)));
  });
  exited.catch(() => undefined);
  const conn: MessageConnection = createMessageConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));
  let lastStatus: StatusParams | null = null;
  let lastModelMs: number | null = null;
  conn.onNotification(StatusNotification, (s) => {
    lastStatus = s;
    if (s.state === 'ready' && typeof s.lastLatencyMs === 'number') lastModelMs = s.lastLatencyMs;
  });
  conn.onNotification(LogMessageNotification.type, (m) => {
    log.push(m.message);
    if (log.length > 20) log.shift();
  });
  conn.listen();

  const explain = (err: unknown): Error => {
    const why = err instanceof Error ? err.message : String(err);
    const status = lastStatus as StatusParams | null;
    const parts = [`LSP bench: ${why}`];
    if (status !== null) parts.push(`last status: ${status.state}${status.message ? ` (${status.message})` : ''}`);
    if (log.length > 0) parts.push(`server log:\n  ${log.join('\n  ')}`);
    if (stderr.trim() !== '') parts.push(`server stderr:\n${stderr.trim()}`);
    return new Error(parts.join('\n'));
  };
  /** The promise, or an error when the server dies or stays silent past the time limit. */
  const guarded = async <T>(p: Promise<T>, what: string, ms = timeoutMs): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer to ${what} within ${ms} ms`)), ms);
    });
    try {
      return await Promise.race([p, exited, late]);
    } finally {
      clearTimeout(timer);
    }
  };

  // Every request gets a document of its own, opened just before and closed right after. The server
  // caches completions per (uri, version, prefix, suffix) and also answers a position further along
  // an earlier completion in the same document from memory (typed-ahead reuse); the warm-up asks for
  // the same tasks as the first measured requests, so reusing a URI could time a cache lookup instead
  // of a model run. A fresh URI can never hit either path, and closing it drops its cache entries.
  let opened = 0;
  const ask = async (task: Task): Promise<{ ms: number; serverMs: number | null; item: InlineCompletionItem | undefined }> => {
    const uri = `file:///diffill-bench/${opened++}-${task.task_id.replace(/[^A-Za-z0-9_.-]/g, '_')}.txt`;
    const text = task.prompt + task.suffix;
    const doc = TextDocument.create(uri, task.source?.language ?? 'plaintext', 1, text);
    // UTF-16 line/character of the gap, as LSP positions are (TextDocument does the counting).
    const position = doc.positionAt(task.prompt.length);
    await conn.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId: doc.languageId, version: 1, text } });
    lastModelMs = null;
    const started = performance.now();
    const result = (await guarded(
      // Automatic, as ghost text is requested while typing: one item. (Invoked would skip the
      // debounce too, but the server then samples three alternatives, three model runs.)
      conn.sendRequest(InlineCompletionRequest.type, { textDocument: { uri }, position, context: { triggerKind: InlineCompletionTriggerKind.Automatic } }),
      `inlineCompletion for ${task.task_id}`,
    )) as InlineCompletionList | InlineCompletionItem[] | null;
    const ms = performance.now() - started;
    await conn.sendNotification('textDocument/didClose', { textDocument: { uri } });
    const items = result === null ? [] : Array.isArray(result) ? result : result.items;
    return { ms, serverMs: lastModelMs, item: items[0] };
  };

  try {
    await guarded(
      conn.sendRequest(InitializeRequest.type, {
        processId: process.pid,
        // No workspace: the server then looks for no fine-tuned model of its own to serve instead.
        rootUri: null,
        workspaceFolders: null,
        // A minimal client (no workspace/configuration, no dynamic registration): the settings come
        // in initializationOptions, as a Neovim user passes them.
        capabilities: {},
        initializationOptions: { settings: serverSettings },
      }),
      'initialize',
      30_000,
    );
    await conn.sendNotification('initialized', {});

    // Warm-up: the first request loads the model (ONNX session creation) and pays ONNX Runtime's lazy
    // initialisation, as the engine rows' warm-up does; none of it is in the figures.
    for (const t of tasks.slice(0, LSP_WARMUP)) await ask(t);
    const status = lastStatus as StatusParams | null;
    if (status === null || status.state === 'error' || status.model === null) {
      throw new Error(`the server has no model loaded after the warm-up (status ${JSON.stringify(status)})`);
    }
    if (status.model !== basename(model)) throw new Error(`the server serves '${status.model}', not the benchmarked model '${basename(model)}'`);

    const requests: LspRequestRecord[] = [];
    for (const t of tasks) {
      const r = await ask(t);
      const s = scoreInsert(r.item, t);
      requests.push({ task_id: t.task_id, ms: r.ms, server_ms: r.serverMs, text: s.text, replace_chars: s.replaceChars, exact_match: s.em, edit_similarity: s.es });
    }
    const ms = requests.map((r) => r.ms);
    const serverMs = requests.flatMap((r) => (r.server_ms === null ? [] : [r.server_ms]));
    const p50 = percentile(ms, 0.5);
    const p95 = percentile(ms, 0.95);
    const singleLine = requests.filter((_, i) => tasks[i]!.kind === 'single-line').map((r) => r.ms);
    return {
      setting: LSP_ROW_NAME,
      transport: 'stdio',
      server_command: `node ${args.join(' ')}`,
      server_settings: serverSettings,
      context: contextTokens,
      tasks: requests.length,
      warmup_requests: Math.min(LSP_WARMUP, tasks.length),
      p50_ms: p50,
      p95_ms: p95,
      single_line_p50_ms: percentile(singleLine, 0.5),
      single_line_p95_ms: percentile(singleLine, 0.95),
      server_model_p50_ms: percentile(serverMs, 0.5),
      server_model_p95_ms: percentile(serverMs, 0.95),
      outside_model_p50_ms: percentile(
        requests.flatMap((r) => (r.server_ms === null ? [] : [r.ms - r.server_ms])),
        0.5,
      ),
      exact_match: requests.filter((r) => r.exact_match).length / requests.length,
      edit_similarity: requests.reduce((a, r) => a + r.edit_similarity, 0) / requests.length,
      empty: requests.filter((r) => r.text === '').length,
      overhead: null,
      requests,
    };
  } catch (err) {
    throw explain(err);
  } finally {
    await stop(conn, child, guarded);
  }
}

/** shutdown + exit, as an editor closes the server; killed if it does not go within a few seconds. */
async function stop(
  conn: MessageConnection,
  child: ReturnType<typeof spawn>,
  guarded: <T>(p: Promise<T>, what: string, ms?: number) => Promise<T>,
): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const gone = new Promise<void>((done) => child.once('exit', () => done()));
    try {
      await guarded(conn.sendRequest('shutdown'), 'shutdown', 10_000);
      await conn.sendNotification('exit');
      await Promise.race([gone, new Promise((done) => setTimeout(done, 5_000).unref())]);
    } catch {
      // already gone, or hung: killed below
    }
  }
  conn.dispose();
  if (child.exitCode === null && child.signalCode === null) child.kill();
}
