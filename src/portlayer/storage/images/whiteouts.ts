/**
 * How one tar entry of an OCI / Docker layer maps onto an overlayfs lower layer. OCI marks
 * deletions with `.wh.NAME` files and "this directory replaces the one below" with
 * `.wh..wh..opq`; overlayfs wants a char device 0/0 named NAME and the directory's
 * `trusted.overlay.opaque=y` xattr instead. Pure: no I/O.
 */

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';
/** The xattr overlayfs reads on a lower directory to hide everything below it. */
export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';

export class UnsafeLayerPathError extends Error {
  override readonly name = 'UnsafeLayerPathError';
  constructor(
    readonly entry: string,
    reason: string,
  ) {
    super(`layer entry ${JSON.stringify(entry)}: ${reason}`);
  }
}

export type EntryPlan =
  /** An ordinary entry (file, dir, link, device) at `path`, relative to the layer root ('' is the root). */
  | { readonly kind: 'entry'; readonly path: string }
  /** `.wh.NAME`: a char device 0/0 at `path` (= dir/NAME) hides NAME in the layers below. */
  | { readonly kind: 'whiteout'; readonly path: string }
  /** `.wh..wh..opq` in `dir`: mark `dir` opaque. */
  | { readonly kind: 'opaque'; readonly dir: string }
  /** AUFS bookkeeping (`.wh..wh.plnk`, `.wh..wh.aufs`): not content, dropped as Docker does. */
  | { readonly kind: 'ignore'; readonly path: string };

/**
 * Normalizes a tar entry name to a relative path without `.`, empty segments or a trailing
 * slash. Throws on `..` (why: the unpacker runs as root, so a path must never leave the
 * staging directory).
 */
export function normalizeEntryPath(name: string): string {
  const parts: string[] = [];
  for (const segment of name.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') throw new UnsafeLayerPathError(name, 'contains ".."');
    if (segment.includes('\0')) throw new UnsafeLayerPathError(name, 'contains NUL');
    parts.push(segment);
  }
  return parts.join('/');
}

function splitPath(path: string): { dir: string; base: string } {
  const i = path.lastIndexOf('/');
  return i < 0 ? { dir: '', base: path } : { dir: path.slice(0, i), base: path.slice(i + 1) };
}

export function joinPath(dir: string, base: string): string {
  return dir === '' ? base : `${dir}/${base}`;
}

/** Decides what a tar entry named `name` becomes in the layer disk. */
export function classifyEntry(name: string): EntryPlan {
  const path = normalizeEntryPath(name);
  const { dir, base } = splitPath(path);
  if (base === OPAQUE_MARKER) return { kind: 'opaque', dir };
  // Anything in or named like AUFS's `.wh..wh.plnk` / `.wh..wh.aufs` is bookkeeping, not content.
  if (path.split('/').some((s) => s.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)))
    return { kind: 'ignore', path };
  if (base.startsWith(WHITEOUT_PREFIX)) {
    const hidden = base.slice(WHITEOUT_PREFIX.length);
    if (hidden === '' || hidden === '.' || hidden === '..') throw new UnsafeLayerPathError(name, 'empty whiteout');
    return { kind: 'whiteout', path: joinPath(dir, hidden) };
  }
  return { kind: 'entry', path };
}
