// The terminal progress display: one redrawn bar on a TTY, throttled plain lines otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProgressBar, formatCount, formatDuration } from '../../server/training/progress-bar';
import type { StepEvent } from '../../server/training/trainer-process';

function sink(isTTY: boolean, columns = 100) {
  const out: string[] = [];
  return { out, stream: { isTTY, columns, write: (s: string) => out.push(s) } };
}

const step = (n: number, total = 100): StepEvent => ({
  event: 'step', step: n, total_steps: total, loss: 4 - n / 50, lr: 1e-3, tokens_per_s: 12_345, elapsed_s: n, eta_s: total - n,
});

test('formatDuration and formatCount', () => {
  assert.equal(formatDuration(45.4), '45s');
  assert.equal(formatDuration(125), '2m05s');
  assert.equal(formatDuration(3720), '1h02m');
  assert.equal(formatDuration(null), '?');
  assert.equal(formatDuration(-1), '?');
  assert.equal(formatCount(950), '950');
  assert.equal(formatCount(12_345), '12.3k');
  assert.equal(formatCount(4_560_000), '4.56M');
  assert.equal(formatCount(123_000_000), '123M');
});

test('TTY: the bar is redrawn in place and log lines go above it', () => {
  const { out, stream } = sink(true, 100);
  const bar = new ProgressBar(stream);
  bar.handle(step(50));
  const drawn = out.join('');
  assert.match(drawn, /^\r\x1b\[2Kstep 50\/100 \[#+-+\]  50%  loss 3\.000  12\.3k tok\/s  ETA 50s$/);
  assert.ok(!drawn.includes('\n'));
  out.length = 0;
  bar.handle({ event: 'eval', step: 50, val_loss: 2.5, infill_exact: { cases: 64, oracle: 0.25, variable: 0.125, canvas: 16 } });
  assert.equal(out[0], '\r\x1b[2Keval at step 50: held-out loss 2.500, infill exact match 25.0% at the true length, 12.5% choosing the length\n');
  assert.match(out[1]!, /step 50\/100/); // the bar again, below the log line
  out.length = 0;
  bar.finish();
  assert.deepEqual(out, ['\r\x1b[2K']);
});

test('a time budget (no step count yet) and an eval without infill cases', () => {
  const { out, stream } = sink(false);
  const bar = new ProgressBar(stream);
  bar.handle({ event: 'start', preset: 'small', params: 20e6, device: 'cuda', world_size: 2, total_steps: null, tokens_per_step: 65536, resumed_from_step: 120 });
  bar.handle({ event: 'eval', step: 5, val_loss: null, infill_exact: null });
  assert.deepEqual(out, [
    'training preset small (20.0M parameters) on 2x cuda: steps of 65.5k tokens, resuming from step 120\n',
    'eval at step 5: held-out loss nan\n',
  ]);
});

test('TTY: a narrow terminal drops the bar and never wraps', () => {
  const { out, stream } = sink(true, 50);
  new ProgressBar(stream).handle(step(10));
  const visible = out.join('').replace('\r\x1b[2K', '');
  assert.ok(!/\[[#-]/.test(visible), visible);
  assert.match(visible, /^step 10\/100  10%  loss 3\.800/);
  assert.ok(visible.length <= 50);
});

test('no TTY: plain lines, throttled, and the last step always shown', () => {
  const { out, stream } = sink(false);
  let clock = 0;
  const bar = new ProgressBar(stream, { plainIntervalMs: 1000, now: () => clock });
  bar.handle({ event: 'start', preset: 'tiny', params: 1_500_000, device: 'cpu', world_size: 1, total_steps: 100, tokens_per_step: 4096, resumed_from_step: null });
  for (let i = 1; i <= 100; i++) {
    clock += 100;
    bar.handle(step(i));
  }
  bar.finish();
  assert.equal(out[0], 'training preset tiny (1.50M parameters) on cpu: 100 steps of 4.10k tokens\n');
  const steps = out.slice(1);
  assert.equal(steps.length, 11); // step 1, then every 10 steps (1000 ms), including the last
  assert.equal(steps.at(-1), 'step 100/100 (100%)  loss 2.000  12.3k tok/s  ETA 0s  elapsed 1m40s\n');
  assert.ok(out.every((l) => !l.includes('\r') && l.endsWith('\n')));
});

test('a time budget: the counter never shows the trainer\'s moving estimate of the total', () => {
  const { out, stream } = sink(false);
  let clock = 0;
  const bar = new ProgressBar(stream, { plainIntervalMs: 0, now: () => clock });
  bar.handle({ event: 'start', preset: 'small', params: 12e6, device: 'cpu', world_size: 1, total_steps: null, tokens_per_step: 4096, resumed_from_step: null });
  // The trainer's estimate moves with the speed (4, 6, 7); the display must not.
  const steps: Array<[number, number, number, number]> = [[2, 4, 20, 40], [4, 6, 40, 20], [7, 7, 60, 0]];
  for (const [n, estimate, elapsed, eta] of steps) {
    clock += 1;
    bar.handle({ event: 'step', step: n, total_steps: estimate, loss: 1, lr: 1e-3, tokens_per_s: 100, elapsed_s: elapsed, eta_s: eta });
  }
  assert.deepEqual(out.slice(1).map((l) => l.split('  ')[0]), ['step 2 (33%)', 'step 4 (66%)', 'step 7 (100%)']);
  assert.ok(out.every((l) => !/step \d+\/\d+/.test(l)), out.join(''));
});
