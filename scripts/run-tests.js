#!/usr/bin/env node
// The README's test command after setup: typecheck, lint, then every jest project.
// Jest's own summary is not a line CI reads, so the last line is the plain
// "tests: N passed, N failed" from jest's JSON results.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);

function step(label, cmd, args) {
  process.stdout.write(`\n== ${label}\n`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  return r.status === 0;
}

let ok = step('typecheck', bin('tsc'), ['-p', 'tsconfig.json', '--noEmit']);
ok = step('lint', bin('biome'), ['check', '.']) && ok;

const resultsFile = path.join(root, '.cache', 'jest-results.json');
fs.mkdirSync(path.dirname(resultsFile), { recursive: true });
fs.rmSync(resultsFile, { force: true });
ok =
  step('tests', bin('jest'), ['--runInBand', '--json', `--outputFile=${resultsFile}`, ...process.argv.slice(2)]) && ok;

let passed = 0;
let failed = 0;
if (fs.existsSync(resultsFile)) {
  const results = JSON.parse(fs.readFileSync(resultsFile, 'utf8'));
  passed = results.numPassedTests;
  // A suite that fails to load has no failed tests of its own: count it once.
  failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
}
if (!ok && failed === 0) failed = 1;
process.stdout.write(`tests: ${passed} passed, ${failed} failed\n`);
process.exit(ok && failed === 0 && passed > 0 ? 0 : 1);
