// The realistic suite's markdown report: one table of every row overall, then one per row by kind.
import type { FitOptions, SamplerOptions } from '../../engine/api';
import type { Summary, TaskResult } from './bench-realistic-score';

/** One row's results: a row of the JSON output and of the tables. */
export interface RowReport {
  id: string;
  name: string;
  sampler: Partial<SamplerOptions>;
  fit: Partial<FitOptions> | null;
  overall: Summary;
  by_kind: Record<string, Summary>;
  by_language: Record<string, Summary>;
  examples: Record<string, Array<{ id: string; language: string; reference: string; answer: string }>>;
  answers?: TaskResult[];
}

/** A share as a percentage (n/a for none). */
export const pct = (x: number | null) => (x === null || !Number.isFinite(x) ? 'n/a' : `${(100 * x).toFixed(1)} %`);
export const fix = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '–');

const HEADER =
  '| exact | exact (trimmed) | edit sim. | parses | repetition | length ratio | > 1.5x ref | empty | p50 ms | p95 ms | forwards |';

function cells(s: Summary): string {
  const parse = s.parse_rate === null ? 'n/a' : `${pct(s.parse_rate)} (${s.parse_checked})`;
  return (
    `${pct(s.exact_match)} | ${pct(s.exact_match_trimmed)} | ${fix(s.edit_similarity, 3)} | ${parse} | ${pct(s.repetition_rate)} | ` +
    `${fix(s.length_ratio, 2)} | ${pct(s.longer_than_1_5x)} | ${pct(s.empty)} | ${fix(s.p50_ms)} | ${fix(s.p95_ms)} | ${fix(s.mean_forwards, 1)} |`
  );
}

export function realisticMarkdown(rows: readonly RowReport[], meta: Record<string, unknown>): string {
  const lines = [
    `Machine: ${String(meta['cpu'])}, ${String(meta['threads'])} threads, load average ${String(meta['load_average_1m'])} at the end; ` +
      `model: ${String(meta['model'])}; ${String(meta['tasks'])} tasks (${String(meta['tasks_per_kind'])}); ${String(meta['date'])}`,
    `Command: \`${String(meta['command'])}\``,
    `Parse checks: Python ${String(meta['python'] ?? 'n/a')} (ast.parse), TypeScript ${String(meta['typescript'] ?? 'n/a')} (syntactic diagnostics); ` +
      'the parses column counts only tasks whose own document parses (their number in brackets); Markdown is not checked.',
    ...(meta['notes'] as string[]).map((n) => `Note: ${n}`),
    '',
    `| row | tasks ${HEADER}`,
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.name} | ${r.overall.tasks} | ${cells(r.overall)}`),
  ];
  for (const r of rows) {
    lines.push('', `**${r.name}** (sampler ${JSON.stringify(r.sampler)}, fit ${r.fit === null ? 'engine defaults' : JSON.stringify(r.fit)})`, '');
    lines.push(`| kind | tasks ${HEADER}`, '|---|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const [kind, s] of Object.entries(r.by_kind)) lines.push(`| ${kind} | ${s.tasks} | ${cells(s)}`);
    lines.push(`| all | ${r.overall.tasks} | ${cells(r.overall)}`);
    const errors = r.overall.errors;
    if (errors > 0) lines.push('', `${errors} tasks failed with an error (scored as empty answers).`);
  }
  return lines.join('\n') + '\n';
}
