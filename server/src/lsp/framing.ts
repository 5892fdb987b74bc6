// Reads LSP base-protocol messages (`Content-Length: N\r\n\r\n` + N bytes of UTF-8 JSON) from a byte
// stream. vscode-jsonrpc's own reader stops making sense of the stream after the first broken header:
// it reports an error nobody listens to and reads every later message as garbage, so the server stays
// up but deaf. This reader checks each header as its bytes arrive, reports what was wrong, and skips to
// the next `Content-Length:` to carry on with the messages after it. A body that is not JSON is reported
// too (the connection answers it with a Parse error), and one that holds the start of the next
// message (its Content-Length was too large) is cut there as soon as that header arrives.
import { AbstractMessageReader, type DataCallback, type Disposable, type Message, type MessageReader } from 'vscode-languageserver/node';
import { BodySkimmer, MAX_DOCUMENT_CHARS } from './document-store';

/** A header block is a line or two; anything longer without its blank line is not one. */
export const MAX_HEADER_BYTES = 4096;
/**
 * The largest message read. VS Code does not send documents over 50 MB to extensions; a
 * Content-Length beyond this is a broken header, not a message.
 */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export interface FramingProblem {
  /** `framing`: the header was broken (bytes were skipped); `json`: a well-framed body was not JSON. */
  kind: 'framing' | 'json';
  message: string;
}

/** Body bytes left unread by the skimmer, for the embedded-header check (its look-behind is 64). */
const SCAN_OVERLAP = 64;

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]";
const FIELD = new RegExp(`^(${TOKEN}+):[ \\t]*([\\x20-\\x7e\\t]*?)[ \\t]*$`);
/** What a header line may look like before its end has arrived. */
const FIELD_START = new RegExp(`^${TOKEN}*(:[\\x20-\\x7e\\t]*)?\\r?$`);
const NEXT_HEADER = /content-length:/gi;
const EMBEDDED_HEADER = /content-length:[ \t]*\d+\r\n/i;

export class FramedMessageReader extends AbstractMessageReader implements MessageReader {
  private chunks: Buffer[] = [];
  private size = 0;
  /** Length of the body being read, -1 while reading a header. */
  private bodyLength = -1;
  /** After a broken header: where to look for the next one (1: not the broken one itself); -1 when in step. */
  private resyncFrom = -1;
  /** Body bytes already searched for an embedded header, and the last of them. */
  private scanned = 0;
  private scanTail = '';
  /** A body that may hold document text over the server's limit, read as it arrives (document-store.ts). */
  private skim: BodySkimmer | null = null;
  private callback: DataCallback | null = null;
  private closed = false;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });

  constructor(
    private readonly readable: NodeJS.ReadableStream,
    private readonly report: (problem: FramingProblem) => void,
  ) {
    super();
  }

  listen(callback: DataCallback): Disposable {
    this.callback = callback;
    const onData = (data: Buffer | string): void => this.push(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    const onClose = (): void => {
      if (this.closed) return;
      this.closed = true;
      this.fireClose();
    };
    const onError = (error: Error): void => this.fireError(error);
    this.readable.on('data', onData);
    this.readable.on('end', onClose);
    this.readable.on('close', onClose);
    this.readable.on('error', onError);
    return {
      dispose: () => {
        this.readable.off('data', onData);
        this.readable.off('end', onClose);
        this.readable.off('close', onClose);
        this.readable.off('error', onError);
      },
    };
  }

  private push(data: Buffer): void {
    if (data.length === 0) return;
    this.chunks.push(data);
    this.size += data.length;
    for (;;) {
      if (this.resyncFrom >= 0 && !this.skipToHeader()) return;
      if (this.bodyLength < 0) {
        const header = this.readHeader();
        if (header === 'wait') return;
        if (typeof header === 'string') {
          this.report({ kind: 'framing', message: `${header}; skipping to the next message` });
          this.resyncFrom = 1;
          continue;
        }
        this.bodyLength = header;
        this.scanned = 0;
      }
      // A body holding the start of another message cannot be JSON (a JSON text has no raw line
      // break inside a string, and no Content-Length outside one): its Content-Length was too large,
      // and waiting for the rest would swallow the messages after it. Read on from that header.
      const cut = this.findHeaderInBody(Math.min(this.size, this.bodyLength));
      if (cut !== -1) {
        this.take(cut);
        this.bodyLength = -1;
        this.skim = null;
        this.report({ kind: 'json', message: 'the message is not JSON: another message starts inside it (its Content-Length was too large)' });
        continue;
      }
      if (this.size < this.bodyLength) {
        // Such a body is not held whole: what has arrived goes to the skimmer, but for the last bytes,
        // which the check above reads again with the next ones (bodyLength counts what is left).
        if ((this.skim !== null || this.bodyLength > MAX_DOCUMENT_CHARS) && this.size > SCAN_OVERLAP) {
          const n = this.size - SCAN_OVERLAP;
          this.skim ??= new BodySkimmer();
          this.skim.feed(this.take(n));
          this.bodyLength -= n;
          this.scanned -= n;
        }
        return;
      }
      const body = this.take(this.bodyLength);
      this.bodyLength = -1;
      const skim = this.skim;
      this.skim = null;
      skim?.feed(body);
      this.deliver(skim ?? body);
    }
  }

  /** Where a `Content-Length:` header starts in the body bytes [0, end), -1 if nowhere (yet). */
  private findHeaderInBody(end: number): number {
    if (this.scanned === 0) this.scanTail = '';
    if (end <= this.scanned) return -1;
    // Only the bytes that arrived since the last look, after the tail of those before (a header may
    // straddle two reads).
    const region = this.scanTail + this.slice(this.scanned, end).toString('latin1');
    const start = this.scanned - this.scanTail.length;
    this.scanned = end;
    this.scanTail = region.slice(-64);
    const at = region.search(EMBEDDED_HEADER);
    if (at === -1) return -1;
    this.scanned = 0;
    return start + at;
  }

  /** The body length, 'wait' for more bytes, or what is wrong with the header. */
  private readHeader(): number | 'wait' | string {
    // Line breaks between messages are harmless (some clients end a body with one).
    while (this.size > 0) {
      const b = this.chunks[0]![0];
      if (b !== 0x0d && b !== 0x0a) break;
      this.take(1);
    }
    if (this.size === 0) return 'wait';
    const head = this.peek(MAX_HEADER_BYTES + 4);
    const end = head.indexOf('\r\n\r\n');
    const lines = head.subarray(0, end === -1 ? head.length : end).toString('latin1').split('\r\n');
    // The bytes so far are checked line by line, so a broken header is found without waiting for more.
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      const complete = end !== -1 || i < lines.length - 1;
      if (complete ? FIELD.test(line) : FIELD_START.test(line)) continue;
      if (line.includes('\n')) return 'a header line ends with a bare line feed (LSP header lines end with \\r\\n)';
      if (line.startsWith('{')) return 'a message body came where a header line was expected (missing the blank line after Content-Length?)';
      return `a header line is not "Name: value": ${JSON.stringify(line.slice(0, 60))}`;
    }
    if (end === -1) return head.length > MAX_HEADER_BYTES ? `no blank line ends the header within ${MAX_HEADER_BYTES} bytes` : 'wait';
    this.take(end + 4);
    let length: string | null = null;
    for (const line of lines) {
      const [, name, value] = FIELD.exec(line)!;
      const key = name!.toLowerCase();
      if (key === 'content-length') {
        if (length !== null && length !== value) return `two different Content-Length headers (${length} and ${value})`;
        length = value!;
      } else if (key === 'content-type') {
        const charset = /charset\s*=\s*"?([^";\s]+)/i.exec(value!)?.[1]?.toLowerCase();
        if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') return `Content-Type charset ${charset} is not supported (only utf-8)`;
      }
    }
    if (length === null) return 'the header has no Content-Length';
    if (!/^\d{1,10}$/.test(length)) return `Content-Length must be a number of bytes, got ${JSON.stringify(length.slice(0, 20))}`;
    const n = Number(length);
    if (n > MAX_MESSAGE_BYTES) return `Content-Length ${n} is over the ${MAX_MESSAGE_BYTES}-byte limit of one message`;
    return n;
  }

  private deliver(body: Buffer | BodySkimmer): void {
    let message: unknown;
    try {
      message = body instanceof BodySkimmer ? body.parse((bytes) => this.decoder.decode(bytes)) : JSON.parse(this.decoder.decode(body));
    } catch (err) {
      this.report({ kind: 'json', message: err instanceof SyntaxError ? `the message is not JSON (${err.message})` : 'the message is not valid UTF-8' });
      return;
    }
    this.callback?.(message as Message);
  }

  /** Drops bytes up to the next `Content-Length:`; false when none has arrived yet. */
  private skipToHeader(): boolean {
    const text = this.peek(this.size).toString('latin1');
    NEXT_HEADER.lastIndex = Math.min(this.resyncFrom, text.length);
    const found = NEXT_HEADER.exec(text);
    if (found !== null) {
      this.take(found.index);
      this.resyncFrom = -1;
      return true;
    }
    // Keep a tail that may be the start of a header split across reads.
    const keep = Math.min(text.length, 'content-length:'.length - 1);
    this.take(text.length - keep);
    this.resyncFrom = 0;
    return false;
  }

  private peek(n: number): Buffer {
    if (this.chunks.length === 0) return Buffer.alloc(0);
    if (this.chunks[0]!.length >= n || this.chunks.length === 1) return this.chunks[0]!.subarray(0, n);
    const joined = Buffer.concat(this.chunks);
    this.chunks = [joined];
    return joined.subarray(0, n);
  }

  private take(n: number): Buffer {
    const out = this.peek(n);
    let left = out.length;
    while (left > 0) {
      const first = this.chunks[0]!;
      if (first.length <= left) {
        this.chunks.shift();
        left -= first.length;
      } else {
        this.chunks[0] = first.subarray(left);
        left = 0;
      }
    }
    this.size -= out.length;
    return out;
  }

  /** Bytes [from, to) of the buffer, without joining the chunks around them. */
  private slice(from: number, to: number): Buffer {
    const parts: Buffer[] = [];
    let at = 0;
    for (const chunk of this.chunks) {
      const lo = Math.max(from, at);
      const hi = Math.min(to, at + chunk.length);
      if (lo < hi) parts.push(chunk.subarray(lo - at, hi - at));
      at += chunk.length;
      if (at >= to) break;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }
}
