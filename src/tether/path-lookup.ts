import { statSync } from 'node:fs';
import { isAbsolute, join, posix } from 'node:path';

/** A command that cannot be run, worded and numbered as Docker reports it. */
export class ExecError extends Error {
  override name = 'ExecError';
  constructor(
    message: string,
    /** 127: not found; 126: found but not executable. */
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export type FileProbe = (path: string) => 'missing' | 'directory' | 'not-executable' | 'executable';

/** Go's exec.LookPath, which runc uses: a name with a slash is taken as is, else PATH is searched. */
export function lookPath(file: string, pathEnv: string, cwd: string, probe: FileProbe): string {
  if (file.includes('/')) {
    const abs = isAbsolute(file) ? file : posix.join(cwd, file);
    const kind = probe(abs);
    if (kind === 'executable') return file;
    if (kind === 'missing') throw new ExecError(`exec: "${file}": stat ${file}: no such file or directory`, 127);
    if (kind === 'directory') throw new ExecError(`exec: "${file}": is a directory`, 126);
    throw new ExecError(`exec: "${file}": permission denied`, 126);
  }
  for (const dir of pathEnv.split(':')) {
    const candidate = posix.join(dir === '' ? '.' : dir, file);
    const abs = isAbsolute(candidate) ? candidate : posix.join(cwd, candidate);
    if (probe(abs) === 'executable') return candidate;
  }
  throw new ExecError(`exec: "${file}": executable file not found in $PATH`, 127);
}

/** A probe of the real filesystem, with paths taken inside `root` (the container's root). */
export function fsProbe(root: string): FileProbe {
  return (path) => {
    try {
      const st = statSync(root === '/' ? path : join(root, path));
      if (st.isDirectory()) return 'directory';
      return st.mode & 0o111 ? 'executable' : 'not-executable';
    } catch {
      return 'missing';
    }
  };
}
