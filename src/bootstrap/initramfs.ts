/**
 * Builds the initramfs: busybox with its applet links, the shared libraries Node needs, the
 * kernel modules in load order and `/init`. Kept small (a few MB) because the kernel unpacks
 * it into the guest's RAM; Node itself stays on the CD.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { type CpioEntry, writeCpio } from './cpio';
import { renderInit } from './initScript';
import type { KernelModule } from './kernelModules';
import type { SharedLibrary } from './nodeRuntime';

const run = promisify(execFile);

export interface InitramfsInputs {
  /** The static busybox binary (from busybox-static). */
  busybox: string;
  modules: readonly KernelModule[];
  libraries: readonly SharedLibrary[];
  /** CD-relative paths init hands over to. */
  nodePath: string;
  tetherMain: string;
  /** CD-relative path of the tether's helper, PID 1 when present (see initScript.ts). */
  tetherHelper?: string;
  /** mtime of every entry, seconds since the epoch. */
  mtime: number;
}

/** Applet paths (`bin/sh`, `sbin/insmod`, …) as `busybox --list-full` prints them. */
export function appletLinks(listFull: string): CpioEntry[] {
  return listFull
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && l !== 'bin/busybox')
    .map((path) => ({ path, type: 'symlink' as const, target: '/bin/busybox' }));
}

export async function initramfsEntries(i: InitramfsInputs): Promise<CpioEntry[]> {
  // The build host runs the (static, x86_64) busybox to learn its applets, so the links exist
  // in the image and init does not spend boot time on `busybox --install`.
  const { stdout: applets } = await run(i.busybox, ['--list-full']);
  const modules = await Promise.all(
    i.modules.map(
      async (m): Promise<CpioEntry> => ({
        path: `lib/modules/${m.name}.ko`,
        type: 'file',
        data: await readFile(m.file),
      }),
    ),
  );
  const libraries = await Promise.all(
    i.libraries.map(
      async (l): Promise<CpioEntry> => ({
        path: l.guestPath,
        type: 'file',
        data: await readFile(l.hostPath),
        mode: 0o755,
      }),
    ),
  );
  const init = renderInit({
    modules: i.modules.map((m) => `${m.name}.ko`),
    nodePath: i.nodePath,
    tetherMain: i.tetherMain,
    helperPath: i.tetherHelper,
  });
  return [
    { path: 'init', type: 'file', data: Buffer.from(init), mode: 0o755 },
    { path: 'bin/busybox', type: 'file', data: await readFile(i.busybox), mode: 0o755 },
    ...appletLinks(applets),
    ...modules,
    ...libraries,
    // The kernel opens /dev/console for init before anything can mount devtmpfs.
    { path: 'dev/console', type: 'char', major: 5, minor: 1, mode: 0o600 },
    { path: 'dev/null', type: 'char', major: 1, minor: 3, mode: 0o666 },
    ...['proc', 'sys', 'tmp', 'run', 'root', 'etc', 'mnt', 'vch'].map((path): CpioEntry => ({ path, type: 'dir' })),
  ];
}

/** The gzipped newc archive. Node's gzip writes no timestamp or name, so equal input, equal bytes. */
export async function buildInitramfs(i: InitramfsInputs): Promise<Buffer> {
  return gzipSync(writeCpio(await initramfsEntries(i), i.mtime), { level: 9 });
}
