// The soak's measurements: the server's resident set read from /proc, the probe that makes the server
// print its own memory split, and the growth over a run (bench-soak.ts).
import { readFileSync } from 'node:fs';

/** Memory given back after the refused documents: RSS after may exceed RSS before by this much. */
export const HUGE_TOLERANCE = 0.1;

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

export const median = (xs: readonly number[]): number => {
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
export const PROBE_MARK = '@diffill-memory ';
export const PROBE = `setInterval(() => { const m = process.memoryUsage(); process.stderr.write(${JSON.stringify(PROBE_MARK)} + JSON.stringify(m) + '\\n'); }, 2000).unref();`;
