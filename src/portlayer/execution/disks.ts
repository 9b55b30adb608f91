/**
 * The container's disks: the VCH's formatted scratch disk (made once, the parent of every
 * container's read-write disk) and the device changes that hot-add a container's layer
 * disks and its read-write child disk to a running clone.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isScsiController, removeDeviceSpec, TemporaryDeviceKeys } from '../../vsphere/deviceSpecs';
import type {
  VirtualDevice,
  VirtualDeviceConfigSpec,
  VirtualDisk,
  VirtualDiskFlatVer2BackingInfo,
} from '../../vsphere/vim25/generated/types';
import type { ImageDatastore } from '../storage/images/image-datastore';
import { flatExtentName, flatVmdkDescriptor } from '../storage/images/vmdk-descriptor';

const run = promisify(execFile);

/** Unit 7 of a SCSI bus is its controller's own. */
const RESERVED_UNIT = 7;
const UNITS = 16;

export interface ScratchDisk {
  /** `[ds] <vch>/images/scratch.vmdk` */
  readonly path: string;
  readonly capacityBytes: number;
  /** Set when this call made and uploaded it: how long the upload took. */
  readonly uploadMs?: number;
}

/**
 * 1 GiB: a container's writable space. mke2fs writes only metadata, but the /folder upload
 * sends every byte of the flat extent (zeros included) and the datastore stores them, so the
 * size is a trade between room for writes and a first start's upload (measured in the
 * execution tests: ~1 GiB uploads in a few seconds on the box).
 */
export const SCRATCH_BYTES = 1024 * 1024 * 1024;

export function scratchRelPath(vch: string): string {
  return `${vch}/images/scratch.vmdk`;
}

/**
 * Makes sure the scratch disk exists: an empty ext4 filesystem as a flat VMDK. The
 * descriptor goes last: it is the commit point (a half-uploaded extent is made again).
 */
export async function ensureScratchDisk(
  ds: ImageDatastore,
  vch: string,
  capacityBytes = SCRATCH_BYTES,
): Promise<ScratchDisk> {
  const rel = scratchRelPath(vch);
  const path = ds.datastorePath(rel);
  const existing = await ds.readFile(rel);
  if (existing?.toString('utf8').startsWith('# Disk DescriptorFile')) {
    const m = /^RW (\d+) /m.exec(existing.toString('utf8'));
    return { path, capacityBytes: m ? Number(m[1]) * 512 : capacityBytes };
  }
  const work = await mkdtemp(join(tmpdir(), 'vch-scratch-'));
  try {
    const image = join(work, 'scratch-flat.vmdk');
    await run('truncate', ['-s', String(capacityBytes), image]);
    // No journal-less tricks: the guest mounts it read-write; lazy init keeps mke2fs fast.
    await run('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'vch-rw', '-E', 'lazy_itable_init=1', image]);
    await ds.makeDirectory(`${vch}/images`);
    const t0 = Date.now();
    await ds.uploadFile(image, `${vch}/images/${flatExtentName('scratch.vmdk')}`);
    const uploadMs = Date.now() - t0;
    const descriptor = flatVmdkDescriptor({
      capacityBytes,
      extentFileName: flatExtentName('scratch.vmdk'),
      seed: `vch-scratch:${vch}`,
      adapterType: 'pvscsi',
    });
    await ds.writeFile(rel, Buffer.from(descriptor, 'utf8'));
    return { path, capacityBytes, uploadMs };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export interface ContainerDiskPlan {
  readonly changes: VirtualDeviceConfigSpec[];
  /** SCSI units of the layers, bottom first, as the spec tells the tether. */
  readonly layerUnits: number[];
  readonly rwUnit: number;
}

/** The first `count` free units of a controller, skipping the reserved one. */
export function freeUnits(devices: readonly VirtualDevice[], controllerKey: number, count: number): number[] {
  const used = new Set(devices.filter((d) => d.controllerKey === controllerKey).map((d) => d.unitNumber));
  const out: number[] = [];
  for (let u = 0; u < UNITS && out.length < count; u++) if (u !== RESERVED_UNIT && !used.has(u)) out.push(u);
  if (out.length < count) throw new Error(`the SCSI controller has no room for ${count} disks`);
  return out;
}

/**
 * Units are chosen before the clone exists: a clone has its template's devices, and the
 * template has one empty SCSI controller, so they are the template's free units.
 */
export function planContainerDisks(
  templateDevices: readonly VirtualDevice[],
  layers: readonly string[],
  scratch: ScratchDisk,
  rwFileName: string,
): ContainerDiskPlan {
  const controller = templateDevices.find(isScsiController);
  if (!controller) throw new Error('the template VM has no SCSI controller');
  const units = freeUnits(templateDevices, controller.key, layers.length + 1);
  const keys = new TemporaryDeviceKeys();
  const changes: VirtualDeviceConfigSpec[] = layers.map((fileName, i) => {
    // Nonpersistent: the guest sees the layer read-only, and nothing it does reaches the file.
    const backing: VirtualDiskFlatVer2BackingInfo = {
      _type: 'VirtualDiskFlatVer2BackingInfo',
      fileName,
      diskMode: 'independent_nonpersistent',
    };
    const disk: VirtualDisk = {
      _type: 'VirtualDisk',
      key: keys.take(),
      controllerKey: controller.key,
      unitNumber: units[i]!,
      capacityInKB: 0,
      backing,
    };
    return { operation: 'add', device: disk };
  });
  const rwUnit = units[layers.length]!;
  const rw: VirtualDisk = {
    _type: 'VirtualDisk',
    key: keys.take(),
    controllerKey: controller.key,
    unitNumber: rwUnit,
    capacityInKB: Math.floor(scratch.capacityBytes / 1024),
    backing: {
      _type: 'VirtualDiskFlatVer2BackingInfo',
      fileName: rwFileName,
      diskMode: 'persistent',
      thinProvisioned: true,
      // A child of the formatted scratch disk: the container starts with an empty ext4.
      parent: { _type: 'VirtualDiskFlatVer2BackingInfo', fileName: scratch.path, diskMode: 'persistent' },
    } as VirtualDiskFlatVer2BackingInfo,
  };
  changes.push({ operation: 'add', fileOperation: 'create', device: rw });
  return { changes, layerUnits: units.slice(0, layers.length), rwUnit };
}

/**
 * The removals that take a container VM's layer disks off it without deleting their files.
 * Destroy_Task deletes every disk a VM has, wherever it lives (vCenter, and the simulator
 * alike), and the layers are the image store's, shared by every container of the image:
 * they must be detached first. The read-write child disk stays and goes with the VM.
 */
export function layerDetachChanges(devices: readonly VirtualDevice[]): VirtualDeviceConfigSpec[] {
  return devices
    .filter((d): d is VirtualDisk => d._type === 'VirtualDisk')
    .filter((d) => (d.backing as VirtualDiskFlatVer2BackingInfo | undefined)?.diskMode === 'independent_nonpersistent')
    .map((device) => removeDeviceSpec(device));
}
