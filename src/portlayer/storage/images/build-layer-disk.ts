/**
 * Turns a downloaded layer blob into a read-only ext4 image without mounting anything:
 * unpack to a staging dir, `mke2fs -d` it into a file sized from the content, then apply
 * devices, whiteouts, xattrs and the lost+found removal with debugfs.
 */
import { execFile } from 'node:child_process';
import { rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { debugfsErrors, debugfsScript } from './debugfs-script';
import { estimateDiskBytes, inodeCount, type LayerContentStats } from './disk-size';
import { type UnpackedLayer, unpackLayer } from './unpack-layer';

const run = promisify(execFile);
const MKE2FS = 'mke2fs';
const DEBUGFS = 'debugfs';
const MAX_SIZE_ATTEMPTS = 4;

export class DiffIdMismatchError extends Error {
  override readonly name = 'DiffIdMismatchError';
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`layer content does not match the image config: diff_id ${expected}, got ${actual}`);
  }
}

export class LayerDiskBuildError extends Error {
  override readonly name = 'LayerDiskBuildError';
}

export interface BuildLayerDiskOptions {
  /** Where to build; the caller removes it. */
  readonly workDir: string;
  /** An empty (or missing) folder to unpack into instead of `<workDir>/root`; the caller removes it. */
  readonly stagingDir?: string;
  /** The config's diff_id for this layer; the unpacked tar must hash to it. */
  readonly expectedDiffId: string;
  readonly signal?: AbortSignal;
  readonly onExtractProgress?: (bytesRead: number) => void;
}

export interface LayerDisk {
  /** The raw ext4 image: the flat VMDK's extent, byte for byte. */
  readonly imagePath: string;
  readonly capacityBytes: number;
  readonly stats: LayerContentStats;
}

/** mke2fs's messages when the content does not fit (then we retry bigger). */
function isOutOfSpace(message: string): boolean {
  return /Could not allocate block|No space left|Could not allocate inode|while populating file system/i.test(message);
}

function errorText(error: unknown): string {
  if (error && typeof error === 'object' && 'stderr' in error && typeof error.stderr === 'string') {
    return `${String(error)}\n${error.stderr}`;
  }
  return String(error);
}

export async function buildLayerDisk(blobPath: string, o: BuildLayerDiskOptions): Promise<LayerDisk> {
  return makeLayerDisk(await stageLayer(blobPath, o), o);
}

/** A layer unpacked and checked, waiting for `makeLayerDisk`. */
export interface StagedLayer {
  readonly stagingDir: string;
  readonly unpacked: UnpackedLayer;
}

/**
 * The first half of `buildLayerDisk`: unpack into the staging dir and check the diff_id.
 * Split out so a caller can unpack the next layer (this process's CPU) while mke2fs and
 * debugfs (other processes) make the previous one's disk.
 */
export async function stageLayer(blobPath: string, o: BuildLayerDiskOptions): Promise<StagedLayer> {
  const stagingDir = o.stagingDir ?? join(o.workDir, 'root');
  const unpacked = await unpackLayer(blobPath, {
    stagingDir,
    scratchDir: join(o.workDir, 'scratch'),
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.onExtractProgress ? { onProgress: o.onExtractProgress } : {}),
  });
  if (unpacked.diffId !== o.expectedDiffId) throw new DiffIdMismatchError(o.expectedDiffId, unpacked.diffId);
  return { stagingDir, unpacked };
}

/** The second half of `buildLayerDisk`: mke2fs the staged tree into `<workDir>/disk.img`, then fixups. */
export async function makeLayerDisk(
  staged: StagedLayer,
  o: Pick<BuildLayerDiskOptions, 'workDir' | 'signal'>,
): Promise<LayerDisk> {
  const { stagingDir, unpacked } = staged;
  const imagePath = join(o.workDir, 'disk.img');
  const execOptions = { ...(o.signal ? { signal: o.signal } : {}), maxBuffer: 16 * 1024 * 1024 };
  let capacityBytes = 0;
  for (let attempt = 0; ; attempt++) {
    capacityBytes = estimateDiskBytes(unpacked.stats, attempt);
    await rm(imagePath, { force: true });
    await writeFile(imagePath, '');
    await truncate(imagePath, capacityBytes);
    try {
      // No journal: the disk is only ever mounted read-only. -m 0: no blocks kept for root.
      await run(
        MKE2FS,
        [
          '-q',
          '-F',
          '-t',
          'ext4',
          '-O',
          '^has_journal',
          '-m',
          '0',
          '-b',
          '4096',
          '-N',
          String(inodeCount(unpacked.stats)),
          '-E',
          'root_owner=0:0',
          '-d',
          stagingDir,
          imagePath,
        ],
        execOptions,
      );
      break;
    } catch (error) {
      const text = errorText(error);
      if (o.signal?.aborted || !isOutOfSpace(text) || attempt + 1 >= MAX_SIZE_ATTEMPTS) {
        throw o.signal?.aborted ? error : new LayerDiskBuildError(`mke2fs failed: ${text}`);
      }
    }
  }

  const script = debugfsScript(unpacked.fixups, { removeLostFound: !unpacked.hasLostFound });
  if (script.length > 0) {
    const scriptPath = join(o.workDir, 'fixups.debugfs');
    await writeFile(scriptPath, `${script.join('\n')}\n`);
    const { stderr } = await run(DEBUGFS, ['-w', '-f', scriptPath, imagePath], execOptions);
    const errors = debugfsErrors(stderr);
    if (errors.length > 0) throw new LayerDiskBuildError(`debugfs fixups failed: ${errors.slice(0, 5).join('; ')}`);
  }
  return { imagePath, capacityBytes, stats: unpacked.stats };
}
