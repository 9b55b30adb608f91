/**
 * A running VM's disks follow its `config.hardware.device`, as on ESXi: a disk added by
 * ReconfigVM_Task is hot-added to the guest (QMP `blockdev-add` + `device_add scsi-hd` at
 * the disk's SCSI target), a removed one hot-removed (`device_del`, then `blockdev-del` once
 * qemu reports DEVICE_DELETED: the node is still in use by the device until then).
 */
import { type LocalDatastore, localPathOf } from './datastorePaths';
import { driveFor } from './diskFiles';
import { blockdevOf, diskSerialOf, type QemuDisk, scsiHdOf, scsiTargetOf } from './qemuArgs';
import type { Qmp, QmpEvent } from './qmp';
import type { DiskSpec } from './vmConfig';

const DEVICE_DELETED_TIMEOUT_MS = 10_000;

/**
 * What makes two disks the same disk for a running guest: where it sits, what file chain
 * backs it and whether the guest may write. A change of any of these is a remove plus an add.
 */
export function diskIdentity(d: DiskSpec): string {
  return JSON.stringify([d.busNumber, d.unitNumber, d.readOnly, d.fileName, ...d.parents]);
}

/** The disks a VM should have on its SCSI bus: one per target (the first wins), units known. */
export function placedDisks(disks: readonly DiskSpec[]): Array<DiskSpec & { unitNumber: number }> {
  const seen = new Set<number>();
  const out: Array<DiskSpec & { unitNumber: number }> = [];
  for (const d of disks) {
    if (d.unitNumber === undefined) continue;
    const target = scsiTargetOf(d.busNumber, d.unitNumber);
    if (seen.has(target)) continue;
    seen.add(target);
    out.push({ ...d, unitNumber: d.unitNumber });
  }
  return out;
}

/** Makes the disk's file (a child's qcow2 overlay included) and names its qemu node. */
export async function qemuDiskFor(
  d: DiskSpec & { unitNumber: number },
  datastores: readonly LocalDatastore[],
  id: string,
): Promise<QemuDisk> {
  const drive = await driveFor(
    [d.fileName, ...d.parents].map((f) => localPathOf(f, datastores)),
    d.capacityKB,
    d.readOnly,
  );
  return {
    ...drive,
    id,
    target: scsiTargetOf(d.busNumber, d.unitNumber),
    serial: diskSerialOf(d.busNumber, d.unitNumber),
    source: diskIdentity(d),
  };
}

export interface DiskDiff {
  readonly add: Array<DiskSpec & { unitNumber: number }>;
  readonly remove: QemuDisk[];
}

/** What to hot-remove and hot-add so qemu's disks are the config's; removals go first (a unit may be reused). */
export function diffDisks(attached: readonly QemuDisk[], wanted: readonly DiskSpec[]): DiskDiff {
  const placed = placedDisks(wanted);
  const want = new Set(placed.map(diskIdentity));
  const have = new Set(attached.map((d) => d.source));
  return {
    remove: attached.filter((d) => !want.has(d.source)),
    add: placed.filter((d) => !have.has(diskIdentity(d))),
  };
}

export async function hotAdd(qmp: Qmp, disk: QemuDisk): Promise<void> {
  await qmp.execute('blockdev-add', blockdevOf(disk));
  try {
    await qmp.execute('device_add', scsiHdOf(disk));
  } catch (err) {
    // Leave no orphan node behind: a later attempt reuses nothing, but qemu keeps the file open.
    await qmp.execute('blockdev-del', { 'node-name': disk.id }).catch(() => undefined);
    throw err;
  }
}

/**
 * Unplugs the disk and deletes its node. `events` is the VM's QMP event fan-out: the
 * listener is registered before `device_del` so the event cannot be missed.
 */
export async function hotRemove(qmp: Qmp, events: Set<(e: QmpEvent) => void>, disk: QemuDisk): Promise<void> {
  const device = `${disk.id}-dev`;
  let listener: ((e: QmpEvent) => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  const deleted = new Promise<void>((resolve, reject) => {
    listener = (e) => {
      if (e.event === 'DEVICE_DELETED' && e.data?.device === device) resolve();
    };
    events.add(listener);
    timer = setTimeout(
      () => reject(new Error(`${device}: no DEVICE_DELETED in ${DEVICE_DELETED_TIMEOUT_MS} ms`)),
      DEVICE_DELETED_TIMEOUT_MS,
    );
  });
  try {
    await qmp.execute('device_del', { id: device });
    await deleted;
  } finally {
    clearTimeout(timer);
    if (listener) events.delete(listener);
  }
  await qmp.execute('blockdev-del', { 'node-name': disk.id });
}
