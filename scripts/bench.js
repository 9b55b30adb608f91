#!/usr/bin/env node
// `npm run bench -- <name>` runs bench/<name>.ts from the compiled tree.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const [name, ...rest] = process.argv.slice(2);
const available = fs
  .readdirSync(path.join(root, 'bench'))
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.slice(0, -3));
if (!name || !available.includes(name)) {
  process.stderr.write(`usage: npm run bench -- <name>\nbenchmarks: ${available.join(', ')}\n`);
  process.exit(2);
}
const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
const r = spawnSync(process.execPath, ['--expose-gc', path.join(root, 'dist', 'bench', `${name}.js`), ...rest], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
