/**
 * The text descriptor of a flat VMDK: `<name>.vmdk` names the raw extent `<name>-flat.vmdk`
 * holding the ext4 image byte for byte. We write it ourselves so that a layer disk is just
 * two uploads (no CreateVirtualDisk_Task followed by a rewrite of its extent). `vmfs` is
 * what ESXi itself writes for a flat disk on VMFS and NFS; vcsim and qemu read the extent
 * line alone. Pure.
 */
import { createHash } from 'node:crypto';

export const SECTOR_BYTES = 512;

export interface FlatDescriptorOptions {
  /** Size of the extent in bytes; a multiple of 512 (we make MiB multiples). */
  readonly capacityBytes: number;
  /** File name of the extent, relative to the descriptor: `layer-flat.vmdk`. */
  readonly extentFileName: string;
  /** Seeds the content ID and UUID so one layer always gets the same descriptor. */
  readonly seed: string;
  readonly adapterType?: 'lsilogic' | 'pvscsi' | 'buslogic' | 'ide';
}

/** `layer.vmdk` → `layer-flat.vmdk`, the name VirtualDiskManager also uses. */
export function flatExtentName(descriptorName: string): string {
  return descriptorName.replace(/\.vmdk$/, '-flat.vmdk');
}

/** BIOS geometry ESXi writes for a SCSI disk: 255 heads, 63 sectors, cylinders to fit. */
function geometry(sectors: number): { cylinders: number; heads: number; sectors: number } {
  return { cylinders: Math.max(1, Math.floor(sectors / (255 * 63))), heads: 255, sectors: 63 };
}

export function flatVmdkDescriptor(o: FlatDescriptorOptions): string {
  if (o.capacityBytes <= 0 || o.capacityBytes % SECTOR_BYTES !== 0) {
    throw new RangeError(`disk capacity must be a positive multiple of ${SECTOR_BYTES}: ${o.capacityBytes}`);
  }
  if (/["\n]/.test(o.extentFileName)) throw new RangeError(`bad extent name ${JSON.stringify(o.extentFileName)}`);
  const sectors = o.capacityBytes / SECTOR_BYTES;
  const hash = createHash('sha256').update(o.seed).digest();
  const cid = hash.subarray(0, 4).toString('hex');
  const uuid = [...hash.subarray(4, 20)].map((b) => b.toString(16).padStart(2, '0'));
  const g = geometry(sectors);
  return [
    '# Disk DescriptorFile',
    'version=1',
    'encoding="UTF-8"',
    `CID=${cid}`,
    'parentCID=ffffffff',
    'createType="vmfs"',
    '',
    '# Extent description',
    `RW ${sectors} VMFS "${o.extentFileName}"`,
    '',
    '# The Disk Data Base',
    '#DDB',
    '',
    `ddb.adapterType = "${o.adapterType ?? 'lsilogic'}"`,
    `ddb.geometry.cylinders = "${g.cylinders}"`,
    `ddb.geometry.heads = "${g.heads}"`,
    `ddb.geometry.sectors = "${g.sectors}"`,
    `ddb.longContentID = "${hash.subarray(0, 16).toString('hex')}"`,
    `ddb.uuid = "${uuid.slice(0, 8).join(' ')}-${uuid.slice(8).join(' ')}"`,
    'ddb.virtualHWVersion = "13"',
    '',
  ].join('\n');
}
