/**
 * Unpacks one layer tar (gzip or plain) into a staging directory for `mke2fs -d`, keeping
 * owners, modes, timestamps, hard links and symlinks, and turning what the staging
 * filesystem cannot hold (devices, whiteouts, xattrs) into fixups for debugfs. It hashes the
 * uncompressed stream on the way, so the caller can check the config's diff_id.
 *
 * Runs as root: every path is normalized and no entry may be written through a symlink the
 * layer made (why: a hostile layer could otherwise write anywhere on the VCH).
 */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, fchmodSync, fchownSync, futimesSync, openSync, writeFileSync } from 'node:fs';
import { chmod, lchown, link, lutimes, mkdir, open, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract, type Header } from 'tar-stream';
import type { DiskFixup } from './debugfs-script';
import { BLOCK_SIZE, direntCost, emptyStats, type LayerContentStats, roundUp } from './disk-size';
import { classifyEntry, normalizeEntryPath, OVERLAY_OPAQUE_XATTR, UnsafeLayerPathError } from './whiteouts';

export interface UnpackOptions {
  /** Where the tree goes (created if missing, should be empty). */
  readonly stagingDir: string;
  /** Where xattr values are written for debugfs (`ea_set -f`). */
  readonly scratchDir: string;
  readonly signal?: AbortSignal;
  /** Compressed bytes read so far, as the unpack proceeds. */
  readonly onProgress?: (bytesRead: number) => void;
}

export interface UnpackedLayer {
  readonly stats: LayerContentStats;
  readonly fixups: readonly DiskFixup[];
  /** `sha256:` of the uncompressed tar: the config's diff_id for this layer. */
  readonly diffId: string;
  /** The layer brought its own lost+found (then mke2fs's must stay). */
  readonly hasLostFound: boolean;
}

export class UnsupportedLayerCompressionError extends Error {
  override readonly name = 'UnsupportedLayerCompressionError';
}

const PAX_XATTR_PREFIX = 'SCHILY.xattr.';
const SYMLINK_INLINE_MAX = 60;

/** Counts bytes through it (compressed progress) without touching them. */
class ByteCounter extends Transform {
  bytes = 0;
  constructor(private readonly report?: (bytes: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    this.report?.(this.bytes);
    cb(null, chunk);
  }
}

/** Hashes the uncompressed tar as it passes to the extractor. */
class TarHasher extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }
}

async function compressionOf(path: string): Promise<'gzip' | 'zstd' | 'none'> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await fh.read(head, 0, 4, 0);
    if (bytesRead >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
    if (bytesRead === 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
    return 'none';
  } finally {
    await fh.close();
  }
}

function paxXattrs(header: Header): [string, string][] {
  const pax = header.pax;
  if (pax === null || typeof pax !== 'object') return [];
  return Object.entries(pax as Record<string, unknown>)
    .filter((e): e is [string, string] => e[0].startsWith(PAX_XATTR_PREFIX) && typeof e[1] === 'string')
    .map(([k, v]) => [k.slice(PAX_XATTR_PREFIX.length), v]);
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

/**
 * Files up to this size are written with synchronous calls once their bytes are in memory:
 * six thread-pool round trips a file (open, write, chown, chmod, utimes, close) cost more than
 * the syscalls themselves, and a layer is mostly small files (bench/pull: a third less CPU
 * for a layer of 1700 entries). Each file blocks the event loop only for its syscalls: tens
 * of microseconds on a quick disk, ~0.5 ms on the shared box's ext4, where creating a file
 * is that slow however it is done.
 */
const SYNC_WRITE_MAX = 256 * 1024;

/** Creates `target` (O_EXCL: fails on anything there, symlinks included) with the entry's metadata. */
function writeSmallFile(target: string, data: Buffer, header: Header): void {
  const fd = openSync(target, 'wx', 0o600);
  try {
    writeFileSync(fd, data);
    fchownSync(fd, header.uid, header.gid);
    // After chown: chown clears setuid/setgid bits.
    fchmodSync(fd, header.mode & 0o7777);
    futimesSync(fd, header.mtime, header.mtime);
  } finally {
    closeSync(fd);
  }
}

/** Reads past an entry's body (the extractor waits until each entry is consumed). */
async function drain(entry: AsyncIterable<unknown>): Promise<void> {
  for await (const _chunk of entry) {
    // discarded: directories, links and markers carry no data
  }
}

/** Unpacks `blobPath` into `o.stagingDir`; see the module comment. */
export async function unpackLayer(blobPath: string, o: UnpackOptions): Promise<UnpackedLayer> {
  const compression = await compressionOf(blobPath);
  if (compression === 'zstd') throw new UnsupportedLayerCompressionError('zstd layers are not supported yet');
  await mkdir(o.stagingDir, { recursive: true });
  await mkdir(o.scratchDir, { recursive: true });

  const stats = emptyStats();
  const fixups: DiskFixup[] = [];
  const symlinks = new Set<string>();
  const dirTimes: { path: string; mtime: Date }[] = [];
  let hasLostFound = false;
  let xattrFiles = 0;
  const opaqueValue = join(o.scratchDir, 'opaque-value');
  await writeFile(opaqueValue, 'y');

  const counter = new ByteCounter(o.onProgress);
  const hasher = new TarHasher();
  const tar = extract();
  const opts = o.signal ? { signal: o.signal } : {};
  // Bigger chunks than the 64 KiB read / 16 KiB gunzip defaults: a quarter less CPU for
  // gunzip + hash of a 100 MB layer, most of it per-chunk overhead.
  const source = createReadStream(blobPath, { highWaterMark: 1024 * 1024 });
  const feeding =
    compression === 'gzip'
      ? pipeline(source, counter, createGunzip({ chunkSize: 128 * 1024 }), hasher, tar, opts)
      : pipeline(source, counter, hasher, tar, opts);
  // Whichever fails first is the error we report; the other must not go unhandled.
  feeding.catch(() => {});

  const abs = (p: string): string => (p === '' ? o.stagingDir : join(o.stagingDir, p));
  const checkParents = (path: string, name: string): void => {
    for (let p = parentOf(path); p !== ''; p = parentOf(p)) {
      if (symlinks.has(p)) throw new UnsafeLayerPathError(name, `would be written through the symlink ${p}`);
    }
  };
  // Directories this unpack made and that still stand: most entries' parent is one, and
  // skipping the recursive mkdir for it halves the syscalls of a layer of small files.
  const madeDirs = new Set<string>(['']);
  const ensureParent = async (path: string): Promise<void> => {
    const parent = parentOf(path);
    if (madeDirs.has(parent)) return;
    await mkdir(abs(parent), { recursive: true });
    for (let p = parent; p !== '' && !madeDirs.has(p); p = parentOf(p)) madeDirs.add(p);
  };
  /**
   * Runs `create`, which must fail with EEXIST when `target` exists (O_EXCL, symlink, link:
   * none of them follows a symlink at `target`); then removes what is there, as a later tar
   * entry replaces an earlier one, and runs it again. Trying first spares every new entry an rm.
   */
  const createReplacing = async <T>(target: string, create: () => T | Promise<T>): Promise<T> => {
    try {
      return await create();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      await rm(target, { recursive: true, force: true });
      // What went may have held directories we made: forget them all (rare, so simply).
      madeDirs.clear();
      madeDirs.add('');
      return create();
    }
  };
  const addXattrs = async (header: Header, path: string): Promise<void> => {
    for (const [name, value] of paxXattrs(header)) {
      const file = join(o.scratchDir, `xattr-${++xattrFiles}`);
      await writeFile(file, value, 'utf8');
      fixups.push({ kind: 'xattr', path, name, valueFile: file });
    }
  };

  try {
    for await (const entry of tar) {
      o.signal?.throwIfAborted();
      const header = entry.header;
      const plan = classifyEntry(header.name);
      if (plan.kind === 'ignore') {
        await drain(entry);
        continue;
      }
      if (plan.kind === 'opaque') {
        checkParents(`${plan.dir}/x`, header.name);
        await mkdir(abs(plan.dir), { recursive: true });
        if (plan.dir !== '')
          fixups.push({ kind: 'xattr', path: plan.dir, name: OVERLAY_OPAQUE_XATTR, valueFile: opaqueValue });
        await drain(entry);
        continue;
      }
      const path = plan.path;
      checkParents(path, header.name);
      if (plan.kind === 'whiteout') {
        await ensureParent(path);
        fixups.push({
          kind: 'node',
          path,
          type: 'char',
          major: 0,
          minor: 0,
          mode: 0,
          uid: 0,
          gid: 0,
          mtimeSec: header.mtime.getTime() / 1000,
        });
        stats.inodes++;
        stats.direntBytes += direntCost(baseName(path));
        await drain(entry);
        continue;
      }
      if (path === '') {
        // The layer's root ("./"): mke2fs takes the root's mode from the staging dir.
        await chmod(o.stagingDir, header.mode & 0o7777);
        dirTimes.push({ path, mtime: header.mtime });
        await drain(entry);
        continue;
      }
      if (path === 'lost+found') hasLostFound = true;
      const target = abs(path);
      await ensureParent(path);
      switch (header.type) {
        case 'directory': {
          await mkdir(target, { recursive: true }).catch(async (error: NodeJS.ErrnoException) => {
            // A later entry may turn a file of this layer into a directory: replace it.
            if (error.code !== 'EEXIST' && error.code !== 'ENOTDIR') throw error;
            await rm(target, { force: true });
            await mkdir(target, { recursive: true });
          });
          madeDirs.add(path);
          await lchown(target, header.uid, header.gid);
          await chmod(target, header.mode & 0o7777);
          dirTimes.push({ path, mtime: header.mtime });
          stats.directories++;
          stats.inodes++;
          await drain(entry);
          break;
        }
        case 'file':
        case 'contiguous-file': {
          // Not pipeline(entry, createWriteStream): its stream setup and teardown per file was
          // most of the unpack time of a layer of small files.
          if (header.size <= SYNC_WRITE_MAX) {
            const chunks: Buffer[] = [];
            for await (const chunk of entry) chunks.push(chunk as Buffer);
            const data = Buffer.concat(chunks);
            await createReplacing(target, () => writeSmallFile(target, data, header));
          } else {
            const fh = await createReplacing(target, () => open(target, 'wx', 0o600));
            try {
              for await (const chunk of entry) await fh.writeFile(chunk as Buffer);
              await fh.chown(header.uid, header.gid);
              // After chown: chown clears setuid/setgid bits.
              await fh.chmod(header.mode & 0o7777);
              await fh.utimes(header.mtime, header.mtime);
            } finally {
              await fh.close();
            }
          }
          stats.fileBlockBytes += roundUp(header.size, BLOCK_SIZE);
          stats.inodes++;
          break;
        }
        case 'link': {
          const linked = normalizeEntryPath(header.linkname);
          checkParents(linked, header.linkname);
          await createReplacing(target, () => link(abs(linked), target));
          await drain(entry);
          break;
        }
        case 'symlink': {
          await createReplacing(target, () => symlink(header.linkname, target));
          await lchown(target, header.uid, header.gid);
          await lutimes(target, header.mtime, header.mtime);
          symlinks.add(path);
          if (Buffer.byteLength(header.linkname) >= SYMLINK_INLINE_MAX) stats.longSymlinks++;
          stats.inodes++;
          await drain(entry);
          break;
        }
        case 'character-device':
        case 'block-device':
        case 'fifo': {
          fixups.push({
            kind: 'node',
            path,
            type: header.type === 'fifo' ? 'fifo' : header.type === 'block-device' ? 'block' : 'char',
            major: header.devmajor,
            minor: header.devminor,
            mode: header.mode,
            uid: header.uid,
            gid: header.gid,
            mtimeSec: header.mtime.getTime() / 1000,
          });
          stats.inodes++;
          await drain(entry);
          break;
        }
      }
      stats.direntBytes += direntCost(baseName(path));
      await addXattrs(header, path);
    }
    await feeding;
  } catch (error) {
    tar.destroy();
    await feeding.catch(() => {});
    throw error;
  }
  // Children change their directory's mtime: set directories' last, deepest first.
  const depth = (p: string): number => (p === '' ? 0 : p.split('/').length);
  dirTimes.sort((a, b) => depth(b.path) - depth(a.path));
  for (const d of dirTimes) await lutimes(abs(d.path), d.mtime, d.mtime);
  stats.tarBytes = hasher.bytes;
  return { stats, fixups, diffId: `sha256:${hasher.hash.digest('hex')}`, hasLostFound };
}
