/**
 * What `mke2fs -d` cannot take from the staging directory, applied to the finished image
 * with one `debugfs -w -f script` run: device nodes and whiteouts (Node has no mknod),
 * xattrs (Node has no setxattr, and the staging filesystem may not hold `trusted.*`), and
 * removing the `lost+found` mke2fs always makes (it would show in the merged root). Pure.
 */
import { UnsafeLayerPathError } from './whiteouts';

export type DiskFixup =
  /** A device node, FIFO or overlay whiteout (char 0/0) to create at `path`. */
  | {
      readonly kind: 'node';
      readonly path: string;
      readonly type: 'char' | 'block' | 'fifo';
      readonly major: number;
      readonly minor: number;
      /** Permission bits (07777). */
      readonly mode: number;
      readonly uid: number;
      readonly gid: number;
      readonly mtimeSec: number;
    }
  /** An extended attribute whose value is in the local file `valueFile`. */
  | { readonly kind: 'xattr'; readonly path: string; readonly name: string; readonly valueFile: string };

const FILE_TYPE_BITS = { char: 0o020000, block: 0o060000, fifo: 0o010000 } as const;

/** debugfs's parser groups by double quotes and has no escape: refuse what it cannot say. */
function quote(path: string): string {
  if (/["\n\r]/.test(path)) throw new UnsafeLayerPathError(path, 'name debugfs cannot quote (" or newline)');
  return `"${path}"`;
}

function split(path: string): { dir: string; base: string } {
  const i = path.lastIndexOf('/');
  return i < 0 ? { dir: '', base: path } : { dir: path.slice(0, i), base: path.slice(i + 1) };
}

export interface ScriptOptions {
  /** Remove mke2fs's empty /lost+found (not when the layer itself brought one). */
  readonly removeLostFound: boolean;
}

/** The debugfs command lines, in order. Paths are relative to the layer root. */
export function debugfsScript(fixups: readonly DiskFixup[], o: ScriptOptions): string[] {
  const lines: string[] = [];
  if (o.removeLostFound) lines.push('rmdir /lost+found');
  for (const f of fixups) {
    if (f.kind === 'node') {
      const { dir, base } = split(f.path);
      const name = quote(base);
      // debugfs's mknod makes the name literally in the current directory: cd there first.
      lines.push(`cd ${quote(`/${dir}`)}`);
      lines.push(
        f.type === 'fifo' ? `mknod ${name} p` : `mknod ${name} ${f.type === 'char' ? 'c' : 'b'} ${f.major} ${f.minor}`,
      );
      lines.push(`sif ${name} mode 0${(FILE_TYPE_BITS[f.type] | (f.mode & 0o7777)).toString(8)}`);
      lines.push(`sif ${name} uid ${f.uid}`);
      lines.push(`sif ${name} gid ${f.gid}`);
      lines.push(`sif ${name} mtime @${Math.floor(f.mtimeSec)}`);
      lines.push('cd /');
    } else {
      if (!/^[A-Za-z0-9._-]+$/.test(f.name)) throw new UnsafeLayerPathError(f.path, `xattr name ${f.name}`);
      lines.push(`ea_set -f ${quote(f.valueFile)} ${quote(`/${f.path}`)} ${f.name}`);
    }
  }
  return lines;
}

/**
 * debugfs exits 0 even when a command fails; failures are the stderr lines other than its
 * version banner. Returns them (empty: all went well).
 */
export function debugfsErrors(stderr: string): string[] {
  return stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^debugfs \d/.test(l));
}
