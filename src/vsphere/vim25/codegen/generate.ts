/**
 * Generates src/vsphere/vim25/generated/{table,types,methods}.ts from the vim25 schema as
 * govmomi's Debian package carries it (golang-github-vmware-govmomi-dev, generated from the
 * WSDL): /usr/share/gocode/src/github.com/vmware/govmomi/vim25/types/{types,enum,if}.go.
 *
 * Run it without building the project (compiles only the generator, ~3 s):
 *
 *   npx tsc --outDir dist/codegen --rootDir . --module commonjs --target ES2022 --strict \
 *     --skipLibCheck --types node src/vsphere/vim25/codegen/generate.ts \
 *   && node dist/codegen/src/vsphere/vim25/codegen/generate.js [--src DIR] [--out DIR]
 *
 * or, after `npm run build`: node dist/src/vsphere/vim25/codegen/generate.js.
 * Paths default to the Debian package and to src/vsphere/vim25/generated (found from the
 * current directory, which must be the repository root). What is selected is in roots.ts.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { emitMethods, emitTable, emitTypes } from './emit';
import { parseGoSource } from './goSource';
import { VCH_ROOTS } from './roots';
import { buildSchema } from './schema';
import { type SelectionRoots, selectSchema } from './select';

export const DEFAULT_SRC = '/usr/share/gocode/src/github.com/vmware/govmomi/vim25/types';
const SOURCE_FILES = ['types.go', 'enum.go', 'if.go'];

export interface GeneratedFiles {
  readonly 'table.ts': string;
  readonly 'types.ts': string;
  readonly 'methods.ts': string;
  readonly counts: { readonly types: number; readonly enums: number; readonly methods: number };
}

/** Generates the three files from Go sources (pure: no file system access). */
export function generate(sources: readonly string[], roots: SelectionRoots, sourceLabel: string): GeneratedFiles {
  const schema = buildSchema(parseGoSource(sources));
  const sel = selectSchema(schema, roots);
  const opts = { source: sourceLabel };
  let enums = 0;
  for (const t of sel.types.values()) if (t.kind === 'enum') enums++;
  return {
    'table.ts': emitTable(sel, opts),
    'types.ts': emitTypes(sel, opts),
    'methods.ts': emitMethods(sel, opts),
    counts: { types: sel.types.size - enums, enums, methods: sel.methods.size },
  };
}

function govmomiVersion(src: string): string {
  // Debian's package carries no version file inside the tree; dpkg knows it.
  const status = '/var/lib/dpkg/status';
  if (!existsSync(status)) return 'unknown version';
  const text = readFileSync(status, 'utf8');
  const m = /Package: golang-github-vmware-govmomi-dev\n(?:[^\n]+\n)*?Version: (\S+)/.exec(text);
  return m && src === DEFAULT_SRC ? `golang-github-vmware-govmomi-dev ${m[1]}` : 'govmomi';
}

function main(argv: readonly string[]): void {
  let src = DEFAULT_SRC;
  let out = resolve('src/vsphere/vim25/generated');
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--src') src = argv[++i] ?? src;
    else if (argv[i] === '--out') out = resolve(argv[++i] ?? out);
    else throw new Error(`usage: generate [--src GOVMOMI_VIM25_TYPES_DIR] [--out DIR] (got ${argv[i]})`);
  }
  const sources = SOURCE_FILES.map((f) => readFileSync(join(src, f), 'utf8'));
  const label = `${govmomiVersion(src)}, vim25/types/{${SOURCE_FILES.join(',')}}`;
  const files = generate(sources, VCH_ROOTS, label);
  for (const name of ['table.ts', 'types.ts', 'methods.ts'] as const) {
    writeFileSync(join(out, name), files[name]);
    process.stdout.write(`${join(out, name)}: ${files[name].length} bytes\n`);
  }
  const { types, enums, methods } = files.counts;
  process.stdout.write(`${types} complex types, ${enums} enums, ${methods} methods\n`);
}

if (require.main === module) main(process.argv.slice(2));
