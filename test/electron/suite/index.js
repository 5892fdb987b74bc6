// @ts-check
// The test entry VS Code loads in its extension host (--extensionTestsPath): runs one suite file with
// mocha, chosen by DIFFILL_ELECTRON_SUITE, and writes its counts to DIFFILL_ELECTRON_RESULT so that
// runTest.mjs can sum the runs. Rejecting makes VS Code exit non-zero, as @vscode/test-electron expects.
const fs = require('node:fs');
const path = require('node:path');
const Mocha = require('mocha');

const SUITES = ['editing', 'finetune'];

/** @returns {Promise<void>} */
async function run() {
  const suite = process.env.DIFFILL_ELECTRON_SUITE ?? 'editing';
  if (!SUITES.includes(suite)) throw new Error(`unknown suite '${suite}' (expected ${SUITES.join(' or ')})`);
  // Each test sets its own timeout; a slow machine is no failure, a hang is.
  const mocha = new Mocha({ ui: 'bdd', reporter: 'spec', timeout: 180_000 });
  mocha.addFile(path.join(__dirname, `${suite}.test.js`));

  const counts = await new Promise((resolve) => {
    const runner = mocha.run((failures) => resolve({ passed: runner.stats?.passes ?? 0, failed: failures }));
  });
  const resultFile = process.env.DIFFILL_ELECTRON_RESULT;
  if (resultFile) fs.writeFileSync(resultFile, `${JSON.stringify(counts)}\n`);
  console.log(`${suite}: ${counts.passed} passed, ${counts.failed} failed`);
  if (counts.failed > 0) throw new Error(`${counts.failed} test(s) failed in the ${suite} suite`);
}

module.exports = { run };
