// One soak: the built server spawned over stdio, an editor played at it (random edits, an inline
// completion per keystroke, the previous one cancelled), its memory sampled, then the refused huge
// documents (bench-soak.ts has the command and what it measures).
import { spawn } from 'node:child_process';
import { availableParallelism, cpus, loadavg } from 'node:os';
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
import { Prng } from '../../engine/prng';

import { growth, median, PROBE, PROBE_MARK, readRssMb, type RssSample, type ServerMemorySample } from './bench-soak-memory';
import type { Corpus, SoakDoc } from './bench-soak-corpus';
import { runHugePhase } from './bench-soak-huge';
import type { SoakReport } from './bench-soak-report';
import { sleep, within } from './bench-soak-wait';

/** Documents open at once during the soak. */
const OPEN_DOCUMENTS = 3;

export interface SoakOptions {
  cli: string;
  model: string;
  threads: number | undefined;
  minutes: number;
  warmupMinutes: number;
  seed: number;
  hugeMb: number[];
  corpus: Corpus;
}

export async function runSoak(o: SoakOptions): Promise<SoakReport> {
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
    for (let k = 0; k < n; k++) {
      await sleep(gapMs);
      const r = readRssMb(pid!);
      if (r !== null) xs.push(r);
    }
    return median(xs);
  }

  function hugePhase(): Promise<NonNullable<SoakReport['huge']>> {
    return runHugePhase(
      {
        pick,
        open,
        close,
        change,
        ask,
        alive,
        progress,
        settledRss,
        log,
        watchPeak: () => {
          peakWatch = readRssMb(pid!) ?? 0;
          const watch = setInterval(sampleNow, 100);
          return () => {
            clearInterval(watch);
            const peak = peakWatch ?? 0;
            peakWatch = null;
            return peak;
          };
        },
      },
      o.corpus,
      o.hugeMb,
    );
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
