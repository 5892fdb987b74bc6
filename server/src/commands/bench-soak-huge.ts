// The soak's last phase: documents of several million characters are opened, checked to be refused
// (no ghost text, also after typing into them), and closed; the server's resident set before and after
// says whether their memory was given back, and an ordinary request afterwards that it still answers.
import { performance } from 'node:perf_hooks';
import type { InlineCompletionList } from 'vscode-languageserver-protocol/node';
import { HUGE_TOLERANCE } from './bench-soak-memory';
import type { SoakReport } from './bench-soak-report';
import type { Corpus, SoakDoc } from './bench-soak-corpus';
import { sleep, within } from './bench-soak-wait';

/** What the phase needs of the running soak (bench-soak-run.ts). */
export interface SoakSession {
  pick<T>(xs: readonly T[]): T;
  open(text: string, language: string, name?: string): Promise<SoakDoc>;
  close(d: SoakDoc): Promise<void>;
  change(d: SoakDoc, start: number, end: number, text: string): Promise<void>;
  ask(d: SoakDoc, invoked: boolean): Promise<InlineCompletionList | null>;
  /** Throws when the server has exited. */
  alive(): void;
  progress(msg: string): void;
  /** Median of n RSS samples gapMs apart. */
  settledRss(n?: number, gapMs?: number): Promise<number>;
  /** The server's recent log messages. */
  log: string[];
  /** Starts sampling RSS every 100 ms; the returned function stops and gives the peak (MB). */
  watchPeak(): () => number;
}

const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

export async function runHugePhase(s: SoakSession, corpus: Corpus, hugeMb: readonly number[]): Promise<NonNullable<SoakReport['huge']>> {
  // The same ordinary completion before and after, so that both figures are taken in the same state.
  const small = s.pick(corpus.texts);
  const probe = async (): Promise<boolean> => {
    const d = await s.open(small.text, small.language, 'probe');
    d.cursor = small.text.length >> 1;
    const res = await within(
      s.ask(d, true).catch(() => 'error' as const),
      60_000,
      'timeout' as const,
    );
    await s.close(d);
    return res !== 'timeout' && res !== 'error';
  };
  await probe();
  await sleep(10_000);
  const before = await s.settledRss();
  s.progress(`refused documents: RSS before ${round(before)} MB`);
  // ASCII text made of the corpus' lines: one character per byte, so N million characters is an
  // N MB document (and a message of about N MB).
  const maxChars = Math.max(...hugeMb) * 1e6;
  const parts: string[] = [];
  let length = 0;
  while (length < maxChars) {
    const t = s.pick(corpus.texts).text.replace(/[^\x20-\x7e\n]/g, ' ');
    parts.push(t);
    length += t.length;
  }
  const all = parts.join('').slice(0, maxChars);
  parts.length = 0;
  const docsOut: NonNullable<SoakReport['huge']>['docs'] = [];
  for (const mb of hugeMb) {
    s.alive();
    const text = all.slice(0, Math.round(mb * 1e6));
    const logBefore = s.log.length;
    const stopWatch = s.watchPeak();
    const d = await s.open(text, 'plaintext', `huge-${mb}mb`);
    const started = performance.now();
    d.cursor = text.length >> 1;
    // Invoked: no debounce; an answer is immediate either way.
    const res = await within(s.ask(d, true), 120_000, 'timeout' as const);
    const answerMs = performance.now() - started;
    if (res === 'timeout') throw new Error(`no answer within 120 s for the ${mb} million character document`);
    // Typing into it must not bring it back either.
    await s.change(d, d.cursor, d.cursor, 'x');
    d.cursor++;
    const res2 = await s.ask(d, true);
    await s.close(d);
    const refused = (res === null || res.items.length === 0) && (res2 === null || res2.items.length === 0);
    const refusalLogged = s.log.slice(logBefore - (s.log.length >= 200 ? 200 : 0)).some((m) => /too large/.test(m));
    await sleep(2000);
    const peak = stopWatch();
    const afterClose = await s.settledRss(3);
    s.progress(`${mb} million characters: ${refused ? 'refused' : 'NOT refused'} in ${Math.round(answerMs)} ms, peak ${round(peak)} MB, after close ${round(afterClose)} MB`);
    docsOut.push({ million_chars: mb, text_bytes: Buffer.byteLength(text), refused, refusal_logged: refusalLogged, answer_ms: Math.round(answerMs), peak_mb: round(peak), after_close_mb: round(afterClose) });
  }
  // The server still answers ordinary requests afterwards (null is an answer: no ghost text).
  const answers = await probe();
  await sleep(10_000);
  const after = await s.settledRss();
  const givenBack = after <= before * (1 + HUGE_TOLERANCE);
  s.progress(`refused documents: RSS after ${round(after)} MB (before ${round(before)} MB): ${givenBack ? 'given back' : 'NOT given back'}`);
  return { tolerance_pct: 100 * HUGE_TOLERANCE, before_mb: round(before), after_mb: round(after), given_back: givenBack, docs: docsOut, server_answers_after: answers };
}
