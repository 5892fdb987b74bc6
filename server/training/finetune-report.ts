// The markdown report of one fine-tuning run, written next to the installed model (it links the
// trainer's loss.svg in the same folder) and opened in the editor's markdown preview.
import type { FinetuneOutcome } from './finetune';
import type { Evaluation } from './finetune-evaluate';
import { formatCount, formatDuration } from './progress-bar';
import type { WorkspaceDataSummary } from './workspace-data';

export const REPORT_FILE = 'finetune-report.md';

const pct = (x: unknown) => (typeof x === 'number' ? `${(x * 100).toFixed(1)}%` : 'n/a');
const loss = (e: Evaluation) => e.valLoss.toFixed(4);

function exactRow(label: string, key: string, before: Evaluation, after: Evaluation): string {
  return `| ${label} | ${pct(before.infillExact?.[key])} | ${pct(after.infillExact?.[key])} |`;
}

export function dataSection(s: WorkspaceDataSummary): string[] {
  const tokens = (n: number | null) => (n === null ? 'not counted' : `${formatCount(n)} tokens`);
  const lines = [
    `- ${s.files} files used (${formatCount(s.bytes)} bytes, ${tokens(s.tokens)}): ${s.trainFiles} for training, ` +
      `${s.valFiles} held out by file (${tokens(s.valTokens)}).`,
  ];
  const exts = Object.entries(s.byExtension)
    .sort((a, b) => b[1].bytes - a[1].bytes)
    .slice(0, 8)
    .map(([ext, c]) => `${ext} ${c.files}`);
  if (exts.length > 0) lines.push(`- By kind: ${exts.join(', ')}.`);
  const skipped = Object.entries(s.skipped);
  if (skipped.length === 0) lines.push('- Nothing was skipped.');
  else {
    lines.push('- Left out:');
    for (const [reason, group] of skipped) {
      if (group === undefined) continue;
      lines.push(`  - ${reason.replace(/_/g, ' ')}: ${group.count} (e.g. ${group.examples.map((e) => `\`${e}\``).join(', ')})`);
    }
  }
  return lines;
}

export function renderReport(o: FinetuneOutcome): string {
  const b = o.baseEval;
  const a = o.candidateEval;
  const d = o.trainer.done;
  const lines = [
    `# Fine-tuning report: ${o.modelName}`,
    '',
    `Workspace \`${o.workspace}\`, base model \`${o.baseModel}\`, ${o.facts ? `facts file \`${o.facts}\`` : 'the workspace\'s own text'}.`,
    '',
    '## Held-out results',
    '',
    `Both models measured on the same held-out slice (${b.windows} windows of ${b.seqLen} tokens per noise level, ` +
      `${formatCount(b.valTokens)} held-out tokens, fixed draws).`,
    '',
    '| | base | fine-tuned |',
    '|---|---|---|',
    `| held-out loss (nats/token, lower is better) | ${loss(b)} | ${loss(a)} |`,
  ];
  if (b.infillExact !== null || a.infillExact !== null) {
    lines.push(
      exactRow('single-line infill exact match, true length', 'oracle', b, a),
      exactRow('single-line infill exact match, model picks the length', 'variable', b, a),
      `| infill cases | ${b.infillExact?.cases ?? 0} | ${a.infillExact?.cases ?? 0} |`,
    );
  }
  lines.push(
    '',
    `The engine loaded the candidate in ${Math.round(o.probe.loadMs)} ms and answered a probe infill in ${Math.round(o.probe.infillMs)} ms.`,
    '',
    '## Training',
    '',
    `- ${d.steps} steps, ${formatCount(d.tokens)} tokens, ${formatDuration(d.wall_s)} (trainer wall time), on ${o.trainer.start?.device ?? 'unknown device'}.`,
    `- Trainer's own held-out loss at the end (one window, a sanity check; the table above is the measurement): ${d.val_loss === null ? 'n/a' : d.val_loss.toFixed(4)}.`,
    `- Python ${o.trainer.python.pythonVersion}, PyTorch ${o.trainer.python.torchVersion}.`,
    '',
    '![training loss](loss.svg)',
    '',
  );
  if (o.data !== null) lines.push('## Data', '', ...dataSection(o.data), '');
  lines.push('Use "Diffill: Use Previous Model" (or `ModelStore.rollback`) to go back to the model served before.', '');
  return lines.join('\n');
}
