/**
 * How big a layer's ext4 image must be for `mke2fs -d` to fit its content. mke2fs cannot
 * grow an image, so we estimate from what the unpacker saw, add headroom for ext4's own
 * metadata, and the builder doubles the size on the rare "no space" failure. Pure.
 */

export const BLOCK_SIZE = 4096;
const INODE_SIZE = 256;
const MIB = 1024 * 1024;
/** ext4's fixed cost on a small image (superblock, group descriptors, reserved GDT, bitmaps). */
const FIXED_OVERHEAD = 2 * MIB;
/** Smallest image we make: tiny layers still need a handful of block groups' metadata. */
export const MIN_DISK_BYTES = 8 * MIB;

/** What the unpacker counted in one layer. */
export interface LayerContentStats {
  /** Inodes the image needs: files, dirs, symlinks, devices, whiteouts (hard links share one). */
  inodes: number;
  /** Data blocks of regular files, counted once per inode, in bytes (each file rounded up to a block). */
  fileBlockBytes: number;
  /** Directory entries' bytes (8 + name, 4-aligned): directories' own blocks. */
  direntBytes: number;
  directories: number;
  /** Symlink targets too long to live in the inode (≥ 60 bytes) take a block each. */
  longSymlinks: number;
  /** Bytes of the uncompressed tar stream (what Docker reports as the layer's size). */
  tarBytes: number;
}

export function emptyStats(): LayerContentStats {
  return { inodes: 0, fileBlockBytes: 0, direntBytes: 0, directories: 0, longSymlinks: 0, tarBytes: 0 };
}

export function roundUp(n: number, multiple: number): number {
  return Math.ceil(n / multiple) * multiple;
}

/** Inode count to ask mke2fs for (`-N`): the content's plus room for lost+found and fixups. */
export function inodeCount(stats: LayerContentStats): number {
  return roundUp(Math.ceil(stats.inodes * 1.1) + 64, 32);
}

/**
 * Image size in bytes, a whole number of MiB (ESXi wants flat extents MiB-aligned), for the
 * `attempt`-th try (0 first; each retry doubles).
 */
export function estimateDiskBytes(stats: LayerContentStats, attempt = 0): number {
  const dirBlocks = stats.directories * BLOCK_SIZE + roundUp(stats.direntBytes, BLOCK_SIZE);
  const content = stats.fileBlockBytes + dirBlocks + stats.longSymlinks * BLOCK_SIZE;
  const inodeTables = inodeCount(stats) * INODE_SIZE;
  // 10% for extent trees, indirect metadata and block-group rounding.
  const estimate = Math.ceil((content + inodeTables) * 1.1) + FIXED_OVERHEAD;
  return roundUp(Math.max(MIN_DISK_BYTES, estimate), MIB) * 2 ** attempt;
}

/** The directory-entry cost of one name in an ext4 directory block. */
export function direntCost(name: string): number {
  return roundUp(8 + Buffer.byteLength(name), 4);
}
