/**
 * A writer for the `newc` cpio format the kernel unpacks an initramfs from.
 *
 * Written here rather than run through `cpio`/`find` so that the archive is the same bytes on
 * every machine (sorted entries, one fixed mtime, owner root, inode numbers by position) and
 * so that device nodes such as `/dev/console` can be added without root or `mknod`.
 */

export type CpioEntry =
  | { path: string; type: 'dir'; mode?: number }
  | { path: string; type: 'file'; data: Buffer; mode?: number }
  | { path: string; type: 'symlink'; target: string }
  | { path: string; type: 'char'; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

function header(fields: number[]): string {
  return `070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`;
}

function pad4(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4);
}

function normalize(path: string): string {
  const p = path.replace(/^\/+/, '').replace(/\/+$/, '');
  if (p === '' || p.split('/').some((part) => part === '' || part === '.' || part === '..')) {
    throw new Error(`bad cpio path: ${JSON.stringify(path)}`);
  }
  return p;
}

/** Adds the parent directories an entry list leaves implicit, and rejects duplicate paths. */
export function withParents(entries: readonly CpioEntry[]): CpioEntry[] {
  const byPath = new Map<string, CpioEntry>();
  for (const entry of entries) {
    const path = normalize(entry.path);
    if (byPath.has(path)) throw new Error(`duplicate cpio path: ${path}`);
    byPath.set(path, { ...entry, path });
  }
  for (const path of [...byPath.keys()]) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      const existing = byPath.get(parent);
      if (!existing) byPath.set(parent, { path: parent, type: 'dir' });
      else if (existing.type !== 'dir') throw new Error(`${parent} is not a directory but holds ${path}`);
    }
  }
  return [...byPath.values()];
}

/**
 * Serializes the entries (parents added, sorted bytewise by path so every parent precedes its
 * children) with every mtime set to `mtime` (seconds since the epoch).
 */
export function writeCpio(entries: readonly CpioEntry[], mtime: number): Buffer {
  const sorted = withParents(entries).sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  const chunks: Buffer[] = [];
  const push = (name: string, mode: number, nlink: number, data: Buffer, rdev: [number, number], ino: number) => {
    const nameBytes = Buffer.from(`${name}\0`);
    const head = header([ino, mode, 0, 0, nlink, mtime, data.length, 0, 0, rdev[0], rdev[1], nameBytes.length, 0]);
    const headAndName = Buffer.concat([Buffer.from(head, 'latin1'), nameBytes]);
    chunks.push(headAndName, pad4(headAndName.length), data, pad4(data.length));
  };
  sorted.forEach((entry, i) => {
    const ino = i + 1;
    switch (entry.type) {
      case 'dir':
        push(entry.path, S_IFDIR | (entry.mode ?? 0o755), 2, Buffer.alloc(0), [0, 0], ino);
        break;
      case 'file':
        push(entry.path, S_IFREG | (entry.mode ?? 0o644), 1, entry.data, [0, 0], ino);
        break;
      case 'symlink':
        push(entry.path, S_IFLNK | 0o777, 1, Buffer.from(entry.target), [0, 0], ino);
        break;
      case 'char':
        push(entry.path, S_IFCHR | (entry.mode ?? 0o600), 1, Buffer.alloc(0), [entry.major, entry.minor], ino);
        break;
    }
  });
  push('TRAILER!!!', 0, 1, Buffer.alloc(0), [0, 0], 0);
  return Buffer.concat(chunks);
}
