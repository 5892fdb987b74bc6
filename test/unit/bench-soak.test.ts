// The soak's summary (server/src/commands/bench-soak.ts): growth between the medians of the first and
// last window after the warm-up, and the slope, on samples whose answer is known.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { growth, type RssSample } from '../../server/src/commands/bench-soak-memory';

test('growth: medians of the first and last window after the warm-up, least-squares slope, max', () => {
  // 0-60 s warm-up at 300 MB (left out), then 100 MB rising 1 MB per minute, with one spike.
  const samples: RssSample[] = [];
  for (let t = 0; t <= 660; t++) samples.push({ t_s: t, rss_mb: t < 60 ? 300 : 100 + (t - 60) / 60 });
  samples[400] = { t_s: 400, rss_mb: 150 };
  const g = growth(samples, 60, 660);
  assert.equal(g.window_s, 30);
  assert.ok(Math.abs(g.start_mb - 100.25) < 1e-9, String(g.start_mb)); // median of 60..90 s
  assert.ok(Math.abs(g.end_mb - 109.75) < 1e-9, String(g.end_mb)); // median of 630..660 s
  assert.ok(Math.abs(g.growth_pct - (100 * 9.5) / 100.25) < 1e-9);
  assert.ok(Math.abs(g.slope_mb_per_min - 1) < 0.02, String(g.slope_mb_per_min));
  assert.equal(g.max_mb, 150);
  // A short run: the windows are a quarter of what is measured.
  assert.equal(growth(samples, 60, 100).window_s, 10);
  assert.throws(() => growth(samples.slice(0, 10), 60, 660), /too few/);
});
