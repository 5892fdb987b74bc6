// What a soak reports (JSON) and its markdown tables (bench-soak.ts).
import type { GrowthSummary, RssSample, ServerMemorySample } from './bench-soak-memory';

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
