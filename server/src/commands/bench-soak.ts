// `diffill bench --suite soak`: the language server's memory under a long editing session. Spawns the
// built server (`node bin/diffill lsp --stdio`), plays an editor at it over stdio (random edits in a
// few open documents, an inline completion after each keystroke, the previous one cancelled, now and
// then a document closed and another opened) and samples the server's resident set (VmRSS of
// /proc/PID/status) every second. A first stretch is warm-up (model load, first allocations of ONNX
// Runtime and V8) and is not counted: the figure is the growth from just after it to the end.
// Then documents of several megabytes are opened, checked to be refused, and closed, and the resident
// set before and after says whether their memory was given back. Not a test: the figures depend on
// the machine and on what else runs on it.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  CancellationTokenSource,
  createMessageConnection,
  InitializeRequest,
  InlineCompletionRequest,
  InlineCompletionTriggerKind,
  LogMessageNotification,
  StreamMessageReader,
  StreamMessageWriter,
  type InlineCompletionList,
  type MessageConnection,
} from 'vscode-languageserver-protocol/node';
import { TextDocument, type TextDocumentContentChangeEvent } from 'vscode-languageserver-textdocument';
import { UsageError } from '../command';
import { Prng } from '../../engine/prng';
import { packageRoot } from '../../common/paths';
import { engineFlags, num, output, parseEngineArgs } from './engine-flags';

export const SOAK_USAGE = `Usage: diffill bench --suite soak [--minutes M] [--warmup-minutes W] [--huge-mb A,B,...] [--no-huge]
                     [--seed S] [--cli FILE] [--json OUT] [--markdown OUT] [--model DIR] [--threads T]

Soaks the built language server (diffill lsp --stdio) as an editor would: random edits (didChange)
in three open documents, an inline completion request after each keystroke that cancels the one
before it, pauses in which completions finish, documents closed and others opened. The server's
resident memory (VmRSS) is sampled every second; its growth is measured from the end of the warm-up
to the end of the run (medians of the first and last stretch). Then documents of several megabytes
are opened, checked to be refused, and closed; the resident memory before and after shows whether
it was given back.

  --minutes M          length of the editing session, warm-up included (default 10)
  --warmup-minutes W   first part not counted (default: 1, or a fifth of --minutes if shorter)
  --huge-mb A,B,...    sizes of the refused documents in millions of characters (default 5,20,50)
  --no-huge            skip the refused-document phase
  --seed S             seed of the random edits (default 1)
  --cli FILE           the launcher to soak (default: this checkout's bin/diffill; another checkout's
                       gives a before/after with the same edits)
  --json OUT, --markdown OUT   write the figures (JSON: every sample)
  --model DIR, --threads T     as for infill`;

/** Memory given back after the refused documents: RSS after may exceed RSS before by this much. */
export const HUGE_TOLERANCE = 0.1;

/** Documents open at once during the soak. */
const OPEN_DOCUMENTS = 3;

export interface RssSample {
  /** Seconds since the server was started. */
  t_s: number;
  rss_mb: number;
}

/** The server's own view (process.memoryUsage, MB), printed to its stderr by a preloaded probe. */
export interface ServerMemorySample {
  t_s: number;
  rss: number;
  heap_total: number;
  heap_used: number;
  external: number;
  array_buffers: number;
}

export interface GrowthSummary {
  /** Median RSS over the first window after the warm-up. */
  start_mb: number;
  /** Median RSS over the last window of the run. */
  end_mb: number;
  /** (end - start) / start, in percent. */
  growth_pct: number;
  /** Least-squares slope of RSS over the measured part. */
  slope_mb_per_min: number;
  max_mb: number;
  /** Length of the start and end windows. */
  window_s: number;
}

const median = (xs: readonly number[]): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * Growth of RSS over the samples from `fromS` to `toS`: the medians of the first and the last
 * window (a quarter of the span, at most 30 s) so that one sample taken during a burst of work
 * does not decide the figure.
 */
export function growth(samples: readonly RssSample[], fromS: number, toS: number): GrowthSummary {
  const measured = samples.filter((s) => s.t_s >= fromS && s.t_s <= toS);
  if (measured.length < 2) throw new Error(`too few memory samples between ${fromS} s and ${toS} s`);
  const window = Math.min(30, (toS - fromS) / 4);
  const start = median(measured.filter((s) => s.t_s <= fromS + window).map((s) => s.rss_mb));
  const end = median(measured.filter((s) => s.t_s >= toS - window).map((s) => s.rss_mb));
  const n = measured.length;
  const mt = measured.reduce((a, s) => a + s.t_s, 0) / n;
  const mr = measured.reduce((a, s) => a + s.rss_mb, 0) / n;
  const cov = measured.reduce((a, s) => a + (s.t_s - mt) * (s.rss_mb - mr), 0);
  const vt = measured.reduce((a, s) => a + (s.t_s - mt) ** 2, 0);
  return {
    start_mb: start,
    end_mb: end,
    growth_pct: (100 * (end - start)) / start,
    slope_mb_per_min: vt > 0 ? (60 * cov) / vt : 0,
    max_mb: Math.max(...measured.map((s) => s.rss_mb)),
    window_s: window,
  };
}

/** VmRSS of a process in MB (1e6 bytes), or null when it is gone. */
export function readRssMb(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? (Number(m[1]) * 1024) / 1e6 : null;
  } catch {
    return null;
  }
}

// Loaded into the server before its own code (node --import): prints process.memoryUsage() to
// stderr every 2 s, so the run can tell the JavaScript heap from buffers and native memory. stderr
// is free on a stdio server (stdout carries the protocol); the timer is unref'd so it never keeps
// the server alive.
const PROBE_MARK = '@diffill-memory ';
const PROBE = `setInterval(() => { const m = process.memoryUsage(); process.stderr.write(${JSON.stringify(PROBE_MARK)} + JSON.stringify(m) + '\\n'); }, 2000).unref();`;

interface SoakDoc {
  uri: string;
  doc: TextDocument;
  cursor: number;
}

interface Corpus {
  texts: Array<{ text: string; language: string }>;
}

function loadCorpus(): Corpus {
  const file = join(packageRoot(), 'test', 'bench', 'realistic', 'docs.jsonl');
  if (!existsSync(file)) throw new UsageError(`no documents at ${file} (the soak edits the realistic suite's documents)`);
  const texts = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as { text: string; language: string })
    .filter((d) => d.text.length >= 2_000 && d.text.length <= 200_000);
  if (texts.length === 0) throw new UsageError(`${file} has no document of 2,000 to 200,000 characters`);
  return { texts };
}

export interface SoakReport {
  meta: Record<string, unknown>;
  soak: {
    duration_s: number;
    warmup_s: number;
    edits: number;
    documents_opened: number;
    requests: { sent: number; cancelled: number; with_items: number; empty: number; failed: number; unanswered_at_end: number };
    rss: GrowthSummary;
    /** Median RSS of each minute of the run (warm-up included). */
    per_minute_mb: number[];
    samples: RssSample[];
    server_memory: ServerMemorySample[];
  };
  huge: null | {
    tolerance_pct: number;
    before_mb: number;
    after_mb: number;
    given_back: boolean;
    docs: Array<{ million_chars: number; text_bytes: number; refused: boolean; refusal_logged: boolean; answer_ms: number; peak_mb: number; after_close_mb: number }>;
    server_answers_after: boolean;
  };
}

export async function benchSoak(argv: string[]): Promise<number> {
  const { values, positionals } = parseEngineArgs(argv, {
    suite: { type: 'string' },
    minutes: { type: 'string' },
    'warmup-minutes': { type: 'string' },
    'huge-mb': { type: 'string' },
    'no-huge': { type: 'boolean' },
    cli: { type: 'string' },
    json: { type: 'string' },
    markdown: { type: 'string' },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'\n\n${SOAK_USAGE}`);
  const flags = engineFlags(values);
  const minutes = num(values.minutes, 'minutes') ?? 10;
  if (!(minutes > 0)) throw new UsageError('--minutes must be more than 0');
  const warmupMinutes = num(values['warmup-minutes'], 'warmup-minutes') ?? Math.min(1, minutes / 5);
  if (!(warmupMinutes >= 0 && warmupMinutes < minutes)) throw new UsageError('--warmup-minutes must be at least 0 and less than --minutes');
  const seed = num(values.seed as string | undefined, 'seed', true) ?? 1;
  const hugeMb = values['no-huge'] === true ? [] : (values['huge-mb'] ?? '5,20,50').split(',').map((s) => num(s.trim(), 'huge-mb')!);
  for (const mb of hugeMb) if (!(mb > 0 && mb <= 500)) throw new UsageError('--huge-mb sizes must be between 0 and 500 (millions of characters)');
  const cli = values.cli !== undefined ? resolve(values.cli) : join(packageRoot(), 'bin', 'diffill');
  if (!existsSync(cli)) throw new UsageError(`--cli: no launcher at ${cli}`);
  const built = join(packageRoot(), 'dist', 'cli.js');
  if (values.cli === undefined && !existsSync(built)) throw new UsageError(`${built} is missing: run \`npm run build\` first (the soak runs the built server)`);
  const corpus = loadCorpus();

  const report = await runSoak({ cli, model: resolve(flags.model), threads: flags.threads, minutes, warmupMinutes, seed, hugeMb, corpus });
  report.meta['command'] = `diffill bench ${argv.join(' ')}`.trim();
  const md = soakMarkdown(report);
  output.write(md);
  if (values.json !== undefined) writeFileSync(values.json, JSON.stringify(report, null, 2) + '\n');
  if (values.markdown !== undefined) writeFileSync(values.markdown, md);
  // A figure that misses its goal is reported, not an error; a document that was not refused, or a
  // server that stopped answering, is.
  const broken = report.huge !== null && (!report.huge.server_answers_after || report.huge.docs.some((d) => !d.refused));
  return broken ? 1 : 0;
}

interface SoakOptions {
  cli: string;
  model: string;
  threads: number | undefined;
  minutes: number;
  warmupMinutes: number;
  seed: number;
  hugeMb: number[];
  corpus: Corpus;
}

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

/** `p`, or `fallback` after `ms`; the timer is cleared either way, so it never holds the process. */
async function within<T, F>(p: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<F>((done) => (timer = setTimeout(() => done(fallback), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const rng = new Prng(o.seed);
  const rand = () => rng.uniform();
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const between = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const progress = (msg: string) => process.stderr.write(`soak: ${msg}\n`);

  const serverSettings = {
    enable: true,
    enabledLanguages: { '*': true },
    modelPath: o.model,
    threads: o.threads ?? 0,
    // The editor's defaults otherwise (debounce 150 ms): most keystrokes cancel a request that is
    // still waiting out the debounce, as in real typing.
  };
  const cli = o.cli;
  const nodeArgs = [`--import=data:text/javascript,${encodeURIComponent(PROBE)}`];
  const args = [cli, 'lsp', '--stdio', '--model', o.model];
  const child = spawn(process.execPath, [...nodeArgs, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start the language server');
  const t0 = performance.now();
  const now = () => (performance.now() - t0) / 1000;
  const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

  const serverMemory: ServerMemorySample[] = [];
  let stderrTail = '';
  let pending = '';
  child.stderr.on('data', (d: Buffer) => {
    pending += d.toString();
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      if (line.startsWith(PROBE_MARK)) {
        const m = JSON.parse(line.slice(PROBE_MARK.length)) as NodeJS.MemoryUsage;
        const mb = (x: number) => round(x / 1e6);
        serverMemory.push({ t_s: round(now()), rss: mb(m.rss), heap_total: mb(m.heapTotal), heap_used: mb(m.heapUsed), external: mb(m.external), array_buffers: mb(m.arrayBuffers) });
      } else {
        stderrTail = (stderrTail + line + '\n').slice(-8000);
      }
    }
  });
  let exitReason: string | null = null;
  child.once('exit', (code, signal) => {
    exitReason = signal ?? `code ${code}`;
  });

  const samples: RssSample[] = [];
  let peakWatch: number | null = null;
  const sampleNow = () => {
    const rss = readRssMb(pid);
    if (rss === null) return;
    samples.push({ t_s: round(now()), rss_mb: round(rss) });
    if (peakWatch !== null) peakWatch = Math.max(peakWatch, rss);
  };
  const sampler = setInterval(sampleNow, 1000);

  const conn: MessageConnection = createMessageConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));
  const log: string[] = [];
  conn.onNotification(LogMessageNotification.type, (m) => {
    log.push(m.message);
    if (log.length > 200) log.shift();
  });
  conn.onNotification('diffill/status', () => undefined);
  conn.listen();
  const alive = () => {
    if (exitReason !== null) throw new Error(`the language server exited (${exitReason})\n${stderrTail.trim()}`);
  };

  let docCounter = 0;
  let documentsOpened = 0;
  const open = async (text: string, language: string, name = `doc-${docCounter++}`): Promise<SoakDoc> => {
    const uri = `file:///diffill-soak/${name}.${language === 'python' ? 'py' : 'txt'}`;
    const doc = TextDocument.create(uri, language, 1, text);
    await conn.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId: language, version: 1, text } });
    documentsOpened++;
    return { uri, doc, cursor: Math.floor(rand() * text.length) };
  };
  const close = async (d: SoakDoc) => conn.sendNotification('textDocument/didClose', { textDocument: { uri: d.uri } });
  const change = async (d: SoakDoc, start: number, end: number, text: string) => {
    const range = { start: d.doc.positionAt(start), end: d.doc.positionAt(end) };
    const changes: TextDocumentContentChangeEvent[] = [{ range, text }];
    d.doc = TextDocument.update(d.doc, changes, d.doc.version + 1);
    await conn.sendNotification('textDocument/didChange', { textDocument: { uri: d.uri, version: d.doc.version }, contentChanges: changes });
  };

  const requests = { sent: 0, cancelled: 0, with_items: 0, empty: 0, failed: 0, unanswered_at_end: 0 };
  const outstanding = new Set<Promise<void>>();
  const ask = (d: SoakDoc, invoked: boolean, token?: CancellationTokenSource): Promise<InlineCompletionList | null> =>
    conn.sendRequest(
      InlineCompletionRequest.type,
      {
        textDocument: { uri: d.uri },
        position: d.doc.positionAt(d.cursor),
        context: { triggerKind: invoked ? InlineCompletionTriggerKind.Invoked : InlineCompletionTriggerKind.Automatic },
      },
      token?.token,
    ) as Promise<InlineCompletionList | null>;

  try {
    await conn.sendRequest(InitializeRequest.type, {
      processId: process.pid,
      rootUri: null,
      workspaceFolders: null,
      capabilities: {},
      initializationOptions: { settings: serverSettings },
    });
    await conn.sendNotification('initialized', {});

    // ---- the editing session ----
    const docs: SoakDoc[] = [];
    for (let i = 0; i < OPEN_DOCUMENTS; i++) {
      const d = pick(o.corpus.texts);
      docs.push(await open(d.text, d.language));
    }
    const endS = o.minutes * 60;
    const warmupS = o.warmupMinutes * 60;
    progress(`${o.minutes} min of editing (${round(warmupS / 60, 2)} min warm-up), server pid ${pid}`);
    let active = 0;
    let edits = 0;
    let inFlight: CancellationTokenSource | null = null;
    let burst = 0;
    let nextReport = 60;
    while (now() < endS) {
      alive();
      if (now() >= nextReport) {
        const last = samples[samples.length - 1];
        progress(`${Math.round(now() / 60)} min: RSS ${last?.rss_mb ?? '?'} MB, ${requests.sent} requests, ${edits} edits`);
        nextReport += 60;
      }
      // Now and then a document is closed and another opened (a new URI: nothing of the old carries over).
      if (rand() < 0.004) {
        const i = Math.floor(rand() * docs.length);
        await close(docs[i]!);
        const d = pick(o.corpus.texts);
        docs[i] = await open(d.text, d.language);
      }
      if (rand() < 0.05) active = Math.floor(rand() * docs.length);
      const d = docs[active]!;
      const text = d.doc.getText();
      if (rand() < 0.08) d.cursor = Math.floor(rand() * text.length); // a click elsewhere
      d.cursor = Math.min(d.cursor, text.length);
      const r = rand();
      if (r < 0.7) {
        // Typing: a character taken from elsewhere in the document, so the text stays code-like.
        const ch = text.length > 0 ? text[Math.floor(rand() * text.length)]! : 'x';
        await change(d, d.cursor, d.cursor, ch === '\r' ? ' ' : ch);
        d.cursor += 1;
      } else if (r < 0.85) {
        const n = Math.min(d.cursor, between(1, 3));
        await change(d, d.cursor - n, d.cursor, '');
        d.cursor -= n;
      } else if (r < 0.92) {
        await change(d, d.cursor, d.cursor, '\n    ');
        d.cursor += 5;
      } else if (r < 0.96) {
        // A paste of a few lines from another document.
        const src = pick(o.corpus.texts).text;
        const at = Math.floor(rand() * src.length);
        const chunk = src.slice(at, at + between(20, 800));
        await change(d, d.cursor, d.cursor, chunk);
        d.cursor += chunk.length;
      } else {
        // A deleted block (kept from emptying the document).
        const n = Math.min(text.length - d.cursor, between(10, 400));
        if (text.length - n > 500) await change(d, d.cursor, d.cursor + n, '');
      }
      edits++;
      // The editor asks for ghost text after every keystroke and cancels the request before it.
      inFlight?.cancel();
      const source = new CancellationTokenSource();
      inFlight = source;
      requests.sent++;
      const p = ask(d, rand() < 0.05, source)
        .then((res) => {
          if (source.token.isCancellationRequested) requests.cancelled++;
          else if (res !== null && res.items.length > 0) requests.with_items++;
          else requests.empty++;
        })
        .catch(() => {
          if (source.token.isCancellationRequested) requests.cancelled++;
          else requests.failed++;
        })
        .finally(() => {
          outstanding.delete(p);
          source.dispose();
          if (inFlight === source) inFlight = null;
        });
      outstanding.add(p);
      // Typing: bursts of 1-10 keystrokes 60-200 ms apart, then a pause of 0.4-3 s in which the
      // last request runs (reading the ghost text); one pause in five cancels it part way (Escape,
      // the cursor moved).
      if (burst > 0) {
        burst--;
        await sleep(between(60, 200));
      } else {
        const pause = between(400, 3000);
        if (rand() < 0.2) {
          const after = between(50, Math.min(600, pause));
          await sleep(after);
          source.cancel();
          await sleep(pause - after);
        } else {
          await sleep(pause);
        }
        burst = between(0, 9);
      }
    }
    await within(Promise.all([...outstanding]), 60_000, null);
    requests.unanswered_at_end = outstanding.size;
    const duration = now();
    const rss = growth(samples, warmupS, duration);
    const perMinute: number[] = [];
    for (let m = 0; m * 60 < duration; m++) perMinute.push(round(median(samples.filter((s) => s.t_s >= m * 60 && s.t_s < (m + 1) * 60).map((s) => s.rss_mb))));
    progress(`RSS ${round(rss.start_mb)} -> ${round(rss.end_mb)} MB after the warm-up (${round(rss.growth_pct)} %), ${requests.sent} requests`);
    for (const d of docs) await close(d);

    // ---- refused documents ----
    let huge: SoakReport['huge'] = null;
    if (o.hugeMb.length > 0) huge = await hugePhase();

    return {
      meta: {
        date: new Date().toISOString(),
        load_average_1m: Math.round(loadavg()[0]! * 100) / 100,
        cpu: `${cpus()[0]?.model ?? 'unknown CPU'} (${availableParallelism()} CPUs)`,
        node: process.version,
        server_command: `node ${args.join(' ')}`,
        server_settings: serverSettings,
        minutes: o.minutes,
        warmup_minutes: o.warmupMinutes,
        seed: o.seed,
      },
      soak: {
        duration_s: round(duration),
        warmup_s: warmupS,
        edits,
        documents_opened: documentsOpened,
        requests,
        rss: { ...rss, start_mb: round(rss.start_mb), end_mb: round(rss.end_mb), growth_pct: round(rss.growth_pct, 2), slope_mb_per_min: round(rss.slope_mb_per_min, 2), max_mb: round(rss.max_mb) },
        per_minute_mb: perMinute,
        samples,
        server_memory: serverMemory,
      },
      huge,
    };
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new Error(`soak: ${why}${log.length > 0 ? `\nserver log:\n  ${log.slice(-20).join('\n  ')}` : ''}`);
  } finally {
    clearInterval(sampler);
    await stop(conn, child);
  }

  /** Median of `n` RSS samples `gapMs` apart. */
  async function settledRss(n = 5, gapMs = 1000): Promise<number> {
    const xs: number[] = [];
    for (let i = 0; i < n; i++) {
      await sleep(gapMs);
      const r = readRssMb(pid!);
      if (r !== null) xs.push(r);
    }
    return median(xs);
  }

  async function hugePhase(): Promise<NonNullable<SoakReport['huge']>> {
    // The same ordinary completion before and after, so that both figures are taken in the same state.
    const small = pick(o.corpus.texts);
    const probe = async (): Promise<boolean> => {
      const d = await open(small.text, small.language, 'probe');
      d.cursor = small.text.length >> 1;
      const res = await within(
        ask(d, true).catch(() => 'error' as const),
        60_000,
        'timeout' as const,
      );
      await close(d);
      return res !== 'timeout' && res !== 'error';
    };
    await probe();
    await sleep(10_000);
    const before = await settledRss();
    progress(`refused documents: RSS before ${round(before)} MB`);
    // ASCII text made of the corpus' lines: one character per byte, so N million characters is an
    // N MB document (and a message of about N MB).
    const maxChars = Math.max(...o.hugeMb) * 1e6;
    const parts: string[] = [];
    let length = 0;
    while (length < maxChars) {
      const t = pick(o.corpus.texts).text.replace(/[^\x20-\x7e\n]/g, ' ');
      parts.push(t);
      length += t.length;
    }
    const all = parts.join('').slice(0, maxChars);
    parts.length = 0;
    const docsOut: NonNullable<SoakReport['huge']>['docs'] = [];
    for (const mb of o.hugeMb) {
      alive();
      const text = all.slice(0, Math.round(mb * 1e6));
      const logBefore = log.length;
      peakWatch = readRssMb(pid!) ?? 0;
      const watch = setInterval(sampleNow, 100);
      const d = await open(text, 'plaintext', `huge-${mb}mb`);
      const started = performance.now();
      d.cursor = text.length >> 1;
      // Invoked: no debounce; an answer is immediate either way.
      const res = await within(ask(d, true), 120_000, 'timeout' as const);
      const answerMs = performance.now() - started;
      if (res === 'timeout') throw new Error(`no answer within 120 s for the ${mb} million character document`);
      // Typing into it must not bring it back either.
      await change(d, d.cursor, d.cursor, 'x');
      d.cursor++;
      const res2 = await ask(d, true);
      await close(d);
      const refused = (res === null || res.items.length === 0) && (res2 === null || res2.items.length === 0);
      const refusalLogged = log.slice(logBefore - (log.length >= 200 ? 200 : 0)).some((m) => /too large/.test(m));
      await sleep(2000);
      clearInterval(watch);
      const peak = peakWatch;
      peakWatch = null;
      const afterClose = await settledRss(3);
      progress(`${mb} million characters: ${refused ? 'refused' : 'NOT refused'} in ${Math.round(answerMs)} ms, peak ${round(peak)} MB, after close ${round(afterClose)} MB`);
      docsOut.push({ million_chars: mb, text_bytes: Buffer.byteLength(text), refused, refusal_logged: refusalLogged, answer_ms: Math.round(answerMs), peak_mb: round(peak), after_close_mb: round(afterClose) });
    }
    // The server still answers ordinary requests afterwards (null is an answer: no ghost text).
    const answers = await probe();
    await sleep(10_000);
    const after = await settledRss();
    const givenBack = after <= before * (1 + HUGE_TOLERANCE);
    progress(`refused documents: RSS after ${round(after)} MB (before ${round(before)} MB): ${givenBack ? 'given back' : 'NOT given back'}`);
    return { tolerance_pct: 100 * HUGE_TOLERANCE, before_mb: round(before), after_mb: round(after), given_back: givenBack, docs: docsOut, server_answers_after: answers };
  }
}

async function stop(conn: MessageConnection, child: ReturnType<typeof spawn>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const gone = new Promise<void>((done) => child.once('exit', () => done()));
    try {
      await within(conn.sendRequest('shutdown'), 10_000, null);
      await conn.sendNotification('exit');
      await within(gone, 5_000, null);
    } catch {
      // already gone, or hung: killed below
    }
  }
  conn.dispose();
  if (child.exitCode === null && child.signalCode === null) child.kill();
}

export function soakMarkdown(r: SoakReport): string {
  const s = r.soak;
  const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '–');
  const lines = [
    `Machine: ${String(r.meta['cpu'])}, load average ${String(r.meta['load_average_1m'])} at the end; ${String(r.meta['date'])}`,
    `Command: \`${String(r.meta['command'])}\`; server: \`${String(r.meta['server_command'])}\``,
    '',
    '| run | warm-up | edits | requests (cancelled / with items / empty / failed) | RSS after warm-up | RSS at the end | growth | slope | max |',
    '|---|---|---|---|---|---|---|---|---|',
    `| ${f(s.duration_s / 60)} min | ${f(s.warmup_s / 60, 2)} min | ${s.edits} | ${s.requests.sent} (${s.requests.cancelled} / ${s.requests.with_items} / ${s.requests.empty} / ${s.requests.failed}) | ${f(s.rss.start_mb)} MB | ${f(s.rss.end_mb)} MB | ${f(s.rss.growth_pct)} % | ${f(s.rss.slope_mb_per_min, 2)} MB/min | ${f(s.rss.max_mb)} MB |`,
    '',
    `RSS per minute (median, MB): ${s.per_minute_mb.join(', ')}`,
  ];
  const last = s.server_memory[s.server_memory.length - 1];
  if (last !== undefined) {
    lines.push(`At the end, inside the server (MB): rss ${last.rss}, V8 heap ${last.heap_used} used of ${last.heap_total}, external ${last.external} (array buffers ${last.array_buffers})`);
  }
  if (r.huge !== null) {
    const h = r.huge;
    lines.push(
      '',
      '| refused document | refused | answer | peak RSS | RSS after close |',
      '|---|---|---|---|---|',
      ...h.docs.map((d) => `| ${d.million_chars} M chars | ${d.refused ? (d.refusal_logged ? 'yes (logged)' : 'yes') : 'NO'} | ${d.answer_ms} ms | ${f(d.peak_mb)} MB | ${f(d.after_close_mb)} MB |`),
      '',
      `RSS before the refused documents ${f(h.before_mb)} MB, 10 s after the last ${f(h.after_mb)} MB: ${h.given_back ? 'given back' : 'NOT given back'} (tolerance ${h.tolerance_pct} %); the server ${h.server_answers_after ? 'still answers' : 'DID NOT ANSWER'} afterwards.`,
    );
  }
  return lines.join('\n') + '\n';
}
