/**
 * The container's root: the wait for its disks, its layer disks mounted read-only, its
 * read-write disk, overlayfs over them (upper/ and work/ on the read-write disk), and the
 * kernel filesystems a process expects inside. Expressed as the helper's `run` steps, so
 * that the whole setup is one exec: in a freshly restored clone under TCG each exec is dear
 * (FACTS.md: ~0.65 s restore → echo with one native helper, ~1.45 s with a busybox exec per
 * mount), and so is Node's own work (its sysfs reads for the disks took ~0.3 s).
 */
import type { ChildProcess } from 'node:child_process';
import { runHelper } from '../parked-helper';
import type { ContainerVmSpec } from '../protocol/containerSpec';

/** Where the tether keeps the container's mounts (the initramfs' /run is its rootfs: RAM). */
export const VCH_RUN = '/run/vch';
export const CONTAINER_ROOT = `${VCH_RUN}/root`;

export type Step =
  | ['disks', string, ...string[]]
  | ['mount', string, string, string, 'ro' | 'rw', string]
  | ['mkdir', string]
  | ['write', string, string]
  | ['reseed', string]
  | ['settime', string];

/**
 * Runs the steps in one helper exec, in order; rejects with the helper's own message. A
 * parked helper (a clone's, parked in the template) runs them without a new process.
 * Resolves with each step's time (`op target ms` lines).
 */
export function runSteps(helperPath: string, steps: readonly Step[], parked?: ChildProcess): Promise<string> {
  const args = steps.flatMap((s, i) => (i === 0 ? s : [';', ...s]));
  return runHelper(helperPath, ['run', '--', ...args], parked);
}

/**
 * The steps that build the root: the helper waits up to `diskTimeoutMs` for the disks at
 * the spec's SCSI units, then mounts each by its unit.
 */
export function rootSteps(spec: ContainerVmSpec, diskTimeoutMs: number): Step[] {
  const units = [...spec.layers.map((l) => l.unit), spec.rwDisk.unit];
  const device = (unit: number): string => `scsi-unit:${unit}`;
  const rw = `${VCH_RUN}/rw`;
  const upper = `${rw}/upper`;
  const work = `${rw}/work`;
  const layerDirs = spec.layers.map((_, i) => `${VCH_RUN}/layers/${i}`);
  // lowerdir lists the top layer first; the spec lists them bottom first.
  const lower = layerDirs.length > 0 ? [...layerDirs].reverse().join(':') : `${VCH_RUN}/empty`;
  const root = CONTAINER_ROOT;
  return [
    ['disks', String(diskTimeoutMs), ...units.map(String)],
    ...spec.layers.map((l, i): Step => ['mount', device(l.unit), layerDirs[i], 'ext4', 'ro', '-']),
    // noinit_itable: no ext4lazyinit thread zeroing the scratch disk's inode tables in every clone.
    ['mount', device(spec.rwDisk.unit), rw, 'ext4', 'rw', 'noinit_itable'],
    // Beside upper/ rather than in it, the rw disk's lost+found stays out of the root.
    ['mkdir', upper],
    ['mkdir', work],
    ...(layerDirs.length === 0 ? [['mkdir', lower] as Step] : []),
    ['mount', 'overlay', root, 'overlay', 'rw', `lowerdir=${lower},upperdir=${upper},workdir=${work}`],
    ['mount', 'proc', `${root}/proc`, 'proc', 'rw', '-'],
    ['mount', 'sysfs', `${root}/sys`, 'sysfs', 'ro', '-'],
    ['mount', 'devtmpfs', `${root}/dev`, 'devtmpfs', 'rw', '-'],
    // The tether's own devpts, bound: the pty helper opens the terminal there before it
    // chroots, and the process must find it under the same name (every devpts mount is an
    // instance of its own since Linux 4.7, so a second mount would not have it).
    ['mount', '/dev/pts', `${root}/dev/pts`, 'bind', 'rw', '-'],
    ['mount', 'tmpfs', `${root}/dev/shm`, 'tmpfs', 'rw', 'mode=1777'],
  ];
}

/** The tether's own /dev/pts (the initramfs mounts only devtmpfs). */
export const DEVPTS_STEP: Step = ['mount', 'devpts', '/dev/pts', 'devpts', 'rw', 'ptmxmode=0666,mode=0620'];
