/**
 * Writes the bootstrap ISO with `xorriso`: one file vSphere attaches as the VM's CD-ROM.
 * El Torito boots isolinux on a BIOS VM (ESXi); the simulator's qemu reads kernel and initrd
 * out of it (or from the copies beside it in the cache) and boots them with -kernel/-initrd.
 * Rock Ridge keeps the execute bit on node; `-r` makes every file root-owned and readable.
 * SOURCE_DATE_EPOCH gives xorriso the volume dates and UUID, but files keep their own mtimes
 * (the staged ones are new each build), so every file's dates are set to the epoch too:
 * with fixed inputs the image is then the same bytes on every build.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface IsoLayout {
  volumeId: string;
  /** ISO path → host path (file or directory). */
  files: ReadonlyMap<string, string>;
  /** ISO paths of the El Torito boot image and its catalog, or none for a non-bootable CD. */
  bootImage?: string;
  bootCatalog?: string;
}

/** xorriso's `YYYYMMDDhhmmsscc` timestring of `epoch`, in UTC (xorriso runs with TZ=UTC). */
export function isoTimestring(epoch: number): string {
  return `${new Date(epoch * 1000).toISOString().replace(/[-:T]/g, '').slice(0, 14)}00`;
}

/** The xorriso arguments for `layout` (exported for the unit test: ordering matters for bytes). */
export function xorrisoArgs(layout: IsoLayout, output: string, sourceDateEpoch: number): string[] {
  const boot =
    layout.bootImage && layout.bootCatalog
      ? ['-b', layout.bootImage, '-c', layout.bootCatalog, '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table']
      : [];
  const grafts = [...layout.files.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([iso, host]) => `${iso}=${host}`);
  return [
    '-as',
    'mkisofs',
    '-quiet',
    '-o',
    output,
    '-V',
    layout.volumeId,
    '-r',
    '--set_all_file_dates',
    isoTimestring(sourceDateEpoch),
    '-graft-points',
    ...boot,
    ...grafts,
  ];
}

export async function writeIso(layout: IsoLayout, output: string, sourceDateEpoch: number): Promise<void> {
  await run('xorriso', xorrisoArgs(layout, output, sourceDateEpoch), {
    env: { ...process.env, SOURCE_DATE_EPOCH: String(sourceDateEpoch), TZ: 'UTC' },
    maxBuffer: 16 * 1024 * 1024,
  }).catch((err: unknown) => {
    const e = err as { code?: string; stderr?: string };
    if (e.code === 'ENOENT') throw new Error('xorriso not found: apt-get install xorriso');
    throw new Error(`xorriso failed: ${e.stderr ?? String(err)}`);
  });
}
