/**
 * Builds image layers without Docker: a tar (tar-stream) of the given entries with fixed
 * mtimes and owners, so the same inputs always give the same bytes and digests, then gzip.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';

/** Every entry's mtime: reproducible layers need one fixed date. */
export const LAYER_MTIME = new Date('2024-01-01T00:00:00Z');

interface EntryBase {
  /** Path inside the image, without a leading slash: `bin/sh`. */
  readonly path: string;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
}

export type LayerEntry =
  | (EntryBase & { readonly type: 'directory' })
  | (EntryBase & { readonly type: 'file'; readonly content: Buffer | string })
  | (EntryBase & { readonly type: 'symlink'; readonly target: string })
  /** A hard link to an earlier entry of the same layer (`target` is that entry's path). */
  | (EntryBase & { readonly type: 'hardlink'; readonly target: string });

export interface BuiltLayer {
  /** Uncompressed tar; its digest is the config's diff_id. */
  readonly diffId: string;
  readonly gzip: Buffer;
  /** Digest of the gzip: what the manifest names. */
  readonly digest: string;
}

/** Whiteout entry name for deleting `path` in a lower layer (OCI/AUFS convention). */
export function whiteoutPath(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? `.wh.${path}` : `${path.slice(0, slash + 1)}.wh.${path.slice(slash + 1)}`;
}

/** Marker that hides everything a lower layer had in `dir`. */
export function opaqueMarkerPath(dir: string): string {
  return `${dir.replace(/\/$/, '')}/.wh..wh..opq`;
}

export async function buildTar(entries: readonly LayerEntry[]): Promise<Buffer> {
  const tar = pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of tar) chunks.push(chunk as Buffer);
  })();
  for (const e of entries) {
    const common = { mtime: LAYER_MTIME, uid: e.uid ?? 0, gid: e.gid ?? 0, uname: '', gname: '' };
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null): void => (err ? reject(err) : resolve());
      switch (e.type) {
        case 'directory':
          tar.entry(
            { ...common, name: `${e.path.replace(/\/$/, '')}/`, type: 'directory', mode: e.mode ?? 0o755 },
            done,
          );
          break;
        case 'file': {
          const content = typeof e.content === 'string' ? Buffer.from(e.content) : e.content;
          tar.entry(
            { ...common, name: e.path, type: 'file', mode: e.mode ?? 0o644, size: content.length },
            content,
            done,
          );
          break;
        }
        case 'symlink':
          tar.entry({ ...common, name: e.path, type: 'symlink', linkname: e.target, mode: e.mode ?? 0o777 }, done);
          break;
        case 'hardlink':
          tar.entry({ ...common, name: e.path, type: 'link', linkname: e.target, mode: e.mode ?? 0o644 }, done);
          break;
      }
    });
  }
  tar.finalize();
  await collected;
  return Buffer.concat(chunks);
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export async function buildLayer(entries: readonly LayerEntry[]): Promise<BuiltLayer> {
  const tar = await buildTar(entries);
  // zlib's gzip header has mtime 0 and no file name, so the output depends on input only.
  const gzip = gzipSync(tar, { level: 6 });
  return { diffId: sha256(tar), gzip, digest: sha256(gzip) };
}
