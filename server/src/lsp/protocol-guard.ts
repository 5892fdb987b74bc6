// Stands between the transport and the connection and answers, as the JSON-RPC 2.0 and LSP specs say,
// the messages vscode-languageserver would otherwise hand to a handler or drop without a word:
// - not a JSON-RPC request, notification or response (a batch, a bad id, no "jsonrpc": "2.0"):
//   InvalidRequest (-32600), with the request's id when it has a usable one, else null;
// - a request before `initialize`: ServerNotInitialized (-32002); a notification then is dropped,
//   except `exit`;
// - a second `initialize`, or any request after `shutdown`: InvalidRequest;
// - params that do not fit the method's schema (protocol.ts): InvalidParams (-32602) naming the field,
//   instead of a handler failing on them with a TypeError; such a notification is dropped.
// Each refusal is logged.
import {
  ErrorCodes,
  type DataCallback,
  type Disposable,
  type Event,
  type Message,
  type MessageReader,
  type PartialMessageInfo,
  type ResponseMessage,
} from 'vscode-languageserver/node';
import { PARAMS_SCHEMAS } from '../protocol';
import { checkParams } from './params';

export type LifecycleState = 'new' | 'initialized' | 'shutdown';

type Incoming = { jsonrpc?: unknown; id?: unknown; method?: unknown; params?: unknown; result?: unknown; error?: unknown };

export class ProtocolGuard implements MessageReader {
  private lifecycle: LifecycleState = 'new';

  /**
   * `reply` sends an error response to the client; `log` records a refusal (it gets `initialized`
   * so it can tell whether the client may be sent log messages yet).
   */
  constructor(
    private readonly inner: MessageReader,
    private readonly reply: (response: ResponseMessage) => void,
    private readonly log: (message: string, initialized: boolean, level: 'warn' | 'error') => void,
  ) {}

  get state(): LifecycleState {
    return this.lifecycle;
  }

  get onError(): Event<Error> {
    return this.inner.onError;
  }

  get onClose(): Event<void> {
    return this.inner.onClose;
  }

  get onPartialMessage(): Event<PartialMessageInfo> {
    return this.inner.onPartialMessage;
  }

  listen(callback: DataCallback): Disposable {
    return this.inner.listen((message) => {
      if (this.admit(message)) callback(message);
    });
  }

  dispose(): void {
    this.inner.dispose();
  }

  /** Answers a body that was not JSON: Parse error, id null (nobody can tell which request it was). */
  parseError(why: string): void {
    this.refuse(null, ErrorCodes.ParseError, `Parse error: ${why}`, 'error');
  }

  private admit(raw: Message): boolean {
    if (Array.isArray(raw)) return this.refuse(null, ErrorCodes.InvalidRequest, 'batches are not supported: send one message at a time');
    if (typeof raw !== 'object' || raw === null) return this.refuse(null, ErrorCodes.InvalidRequest, `a message must be a JSON object, got ${JSON.stringify(raw)}`);
    const m = raw as Incoming;
    const usableId = typeof m.id === 'string' || (typeof m.id === 'number' && Number.isInteger(m.id));
    const id = usableId ? (m.id as string | number) : null;
    if (m.jsonrpc !== '2.0') return this.refuse(id, ErrorCodes.InvalidRequest, `"jsonrpc" must be "2.0", got ${JSON.stringify(m.jsonrpc)}`);
    if (m.method === undefined) {
      // A response to one of the server's own requests (workspace/configuration...).
      if ('id' in m && (m.result !== undefined || m.error !== undefined)) return true;
      return this.refuse(id, ErrorCodes.InvalidRequest, 'a message needs a "method" (request or notification) or a "result" or "error" (response)');
    }
    if (typeof m.method !== 'string') return this.refuse(id, ErrorCodes.InvalidRequest, `"method" must be a string, got ${JSON.stringify(m.method)}`);
    const method = m.method;
    const isRequest = 'id' in m;
    if (isRequest && !usableId) return this.refuse(null, ErrorCodes.InvalidRequest, `${method}: "id" must be a string or an integer, got ${JSON.stringify(m.id)}`);

    if (method === 'exit') return true;
    if (this.lifecycle === 'new' && method !== 'initialize') {
      if (isRequest) return this.refuse(id, ErrorCodes.ServerNotInitialized, `${method}: the server is not initialized (send initialize first)`);
      return this.drop(`${method} before initialize`);
    }
    if (this.lifecycle === 'shutdown') {
      if (isRequest) return this.refuse(id, ErrorCodes.InvalidRequest, `${method}: the server is shutting down (shutdown was received)`);
      return this.drop(`${method} after shutdown`);
    }
    if (method === 'initialize' && this.lifecycle === 'initialized') {
      return isRequest ? this.refuse(id, ErrorCodes.InvalidRequest, 'initialize: the server is already initialized') : this.drop('initialize sent as a notification');
    }

    const schema = PARAMS_SCHEMAS[method];
    const problem = schema !== undefined ? checkParams(schema, m.params) : null;
    if (problem !== null) return isRequest ? this.refuse(id, ErrorCodes.InvalidParams, `${method}: ${problem}`) : this.drop(`${method}: ${problem}`);
    if (method === 'initialize') {
      if (!isRequest) return this.drop('initialize sent as a notification');
      this.lifecycle = 'initialized';
    } else if (method === 'shutdown' && isRequest) {
      this.lifecycle = 'shutdown';
    }
    return true;
  }

  private refuse(id: string | number | null, code: number, message: string, level: 'warn' | 'error' = 'warn'): false {
    this.log(`refused a message: ${message} (${code})`, this.lifecycle !== 'new', level);
    this.reply({ jsonrpc: '2.0', id, error: { code, message } });
    return false;
  }

  private drop(what: string): false {
    this.log(`ignored the notification ${what}`, this.lifecycle !== 'new', 'warn');
    return false;
  }
}
