/**
 * The Node.js the guest runs: the very binary running the VCH (`process.execPath`) and the
 * shared libraries `ldd` names for it. The VCH and the tether then share one Node version,
 * and Debian's own `nodejs` (18 in bookworm) is older than the Node 20 the project requires.
 * The binary goes on the CD (it is ~100 MB); its libraries (glibc, libstdc++: a few MB) go in
 * the initramfs at the paths the dynamic loader looks in, so `node` starts as it does here.
 */
import { execFile } from 'node:child_process';
import { realpath } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface SharedLibrary {
  /** Where the guest's loader will look for it (the path `ldd` resolved it to here). */
  guestPath: string;
  /** The file to copy (symlinks resolved). */
  hostPath: string;
}

export interface NodeRuntime {
  node: string;
  version: string;
  libraries: SharedLibrary[];
}

/**
 * Parses `ldd` output into the library paths the loader resolved, the loader itself included.
 * The vDSO has no file and is skipped; a library ldd could not find is an error.
 */
export function parseLdd(output: string): string[] {
  const paths: string[] = [];
  for (const raw of output.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('linux-vdso') || line.startsWith('statically linked')) continue;
    if (line.includes('=> not found')) throw new Error(`shared library missing: ${line}`);
    const arrow = /=>\s+(\/\S+)\s+\(0x[0-9a-f]+\)$/.exec(line);
    const direct = /^(\/\S+)\s+\(0x[0-9a-f]+\)$/.exec(line);
    const path = arrow?.[1] ?? direct?.[1];
    if (!path) throw new Error(`unexpected ldd line: ${line}`);
    paths.push(path);
  }
  return [...new Set(paths)].sort();
}

export async function nodeRuntime(node: string = process.execPath): Promise<NodeRuntime> {
  const [{ stdout: lddOut }, { stdout: version }] = await Promise.all([run('ldd', [node]), run(node, ['--version'])]);
  const libraries = await Promise.all(
    parseLdd(lddOut).map(async (guestPath) => ({ guestPath, hostPath: await realpath(guestPath) })),
  );
  return { node: await realpath(node), version: version.trim(), libraries };
}
