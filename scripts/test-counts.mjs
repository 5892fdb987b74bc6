// Reads each test runner's own summary for `scripts/test.mjs`: passed, failed and skipped counts, and
// which tests were skipped and why. Kept apart from the runner script so a test can feed it the real
// output of each runner (test/unit/test-runner.test.ts).

/** CI sets CI=true (some systems CI=1); anything else, or unset, is a developer's machine. */
export function isCI(env) {
  const v = (env.CI ?? '').toLowerCase();
  return v !== '' && v !== '0' && v !== 'false';
}

/**
 * What CI refuses in its environment, one line each: a skipped end-to-end suite, or golden files
 * rewritten instead of checked. Either would let a run pass without checking what it claims to.
 */
export function ciRefusals(env) {
  if (!isCI(env)) return [];
  const out = [];
  if (env.DIFFILL_SKIP_E2E === '1') out.push('DIFFILL_SKIP_E2E=1 in CI: the end-to-end suite must run');
  if (env.UPDATE_GOLDEN === '1') out.push('UPDATE_GOLDEN=1 in CI: golden files would be rewritten instead of checked');
  return out;
}

/**
 * Node's test runner, from the JSON lines of scripts/test-events.mjs. The counts are the runner's own
 * closing diagnostics ("pass N", "fail N", "cancelled N", "skipped N", "todo N"); a cancelled test
 * (a timeout, a file that crashed) is a failure, a todo is counted with the skipped.
 */
export function countNodeEvents(jsonl, nameFile = (f) => f) {
  const summary = {};
  const skips = [];
  let sawSummary = false;
  for (const line of jsonl.split('\n')) {
    if (line.trim() === '') continue;
    const e = JSON.parse(line);
    if (e.type === 'diagnostic') {
      const m = /^(tests|pass|fail|cancelled|skipped|todo) (\d+)$/.exec(e.message ?? '');
      if (m) {
        summary[m[1]] = Number(m[2]);
        sawSummary = true;
      }
    } else if (e.skip !== undefined || e.todo !== undefined) {
      const reason = e.skip !== undefined ? e.skip : e.todo;
      skips.push({
        file: e.file ? nameFile(e.file) : undefined,
        name: e.name,
        reason: (typeof reason === 'string' && reason !== '' ? reason : 'no reason given') + (e.skip === undefined ? ' (todo)' : ''),
      });
    }
  }
  const notes = sawSummary ? [] : ['TypeScript: the test runner printed no summary'];
  return {
    passed: summary.pass ?? 0,
    failed: (summary.fail ?? 0) + (summary.cancelled ?? 0) + (sawSummary ? 0 : 1),
    skipped: (summary.skipped ?? 0) + (summary.todo ?? 0),
    skips,
    notes,
  };
}

/**
 * pytest run with `-q -rs`: the closing line ("3 passed, 1 skipped, 1 failed, 2 errors in 1.2s") and
 * the short summary's "SKIPPED [N] file:line: reason" lines (N identical skips share one line).
 */
export function countPytest(out) {
  const lines = out.trimEnd().split('\n');
  const closing = [...lines].reverse().find((l) => /\b\d+ (passed|failed|skipped|errors?|deselected|xfailed|xpassed)\b/.test(l) && / in [\d.]+s/.test(l)) ?? '';
  const n = (word) => {
    const m = new RegExp(`(\\d+) ${word}\\b`).exec(closing);
    return m ? Number(m[1]) : 0;
  };
  const skips = [];
  for (const l of lines) {
    const m = /^SKIPPED \[(\d+)\] (.+?)(?::(\d+))?: (.*)$/.exec(l);
    if (m) for (let i = 0; i < Number(m[1]); i++) skips.push({ file: m[2], name: m[3] ? `line ${m[3]}` : 'the module', reason: m[4] });
  }
  const notes = closing === '' ? ['Python: pytest printed no summary'] : [];
  return {
    passed: n('passed') + n('xpassed'),
    failed: n('failed') + n('errors?') + (closing === '' ? 1 : 0),
    skipped: n('skipped') + n('xfailed'),
    skips,
    notes,
  };
}

/** test/e2e/run.mjs: its closing line `N passed, N failed` (it skips nothing on its own). */
export function countE2E(out) {
  const m = /^(\d+) passed, (\d+) failed/m.exec(out);
  return {
    passed: m ? Number(m[1]) : 0,
    failed: m ? Number(m[2]) : 1,
    skipped: 0,
    skips: [],
    notes: m ? [] : ['end-to-end: no closing `N passed, N failed` line'],
  };
}
