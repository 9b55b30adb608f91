/**
 * Builders of VirtualDeviceConfigSpec for the devices a container VM uses: disks, vmxnet3
 * NICs, an ISO CD-ROM, a serial port backed by a network URI, SCSI controllers. Pure: they
 * take the VM's current device list where a free slot has to be chosen.
 *
 * Keys: a device being added gets a negative temporary key (vSphere assigns the real one);
 * a device added in the same spec as its controller refers to the controller's temporary key.
 */
import type {
  ParaVirtualSCSIController,
  VirtualCdrom,
  VirtualCdromIsoBackingInfo,
  VirtualDevice,
  VirtualDeviceConfigSpec,
  VirtualDeviceConnectInfo,
  VirtualDisk,
  VirtualDiskFlatVer2BackingInfo,
  VirtualEthernetCardDistributedVirtualPortBackingInfo,
  VirtualEthernetCardNetworkBackingInfo,
  VirtualSerialPort,
  VirtualSerialPortURIBackingInfo,
  VirtualVmxnet3,
} from './vim25/generated/types';
import type { ManagedObjectReference } from './vim25/values';

/** Hands out distinct negative keys for the devices of one config spec. */
export class TemporaryDeviceKeys {
  private next = -100;
  take(): number {
    const key = this.next;
    this.next -= 1;
    return key;
  }
}

const SCSI_CONTROLLER_TYPES = new Set([
  'ParaVirtualSCSIController',
  'VirtualLsiLogicController',
  'VirtualLsiLogicSASController',
  'VirtualBusLogicController',
]);
const ETHERNET_TYPES = new Set([
  'VirtualVmxnet3',
  'VirtualVmxnet2',
  'VirtualVmxnet',
  'VirtualE1000',
  'VirtualE1000e',
  'VirtualPCNet32',
  'VirtualSriovEthernetCard',
  'VirtualVmxnet3Vrdma',
]);
/** A SCSI bus has 16 units; unit 7 is the controller's own. */
const SCSI_UNITS = 16;
const SCSI_RESERVED_UNIT = 7;
/** An IDE channel has a master and a slave. */
const IDE_UNITS = 2;

export function isScsiController(d: VirtualDevice): boolean {
  return SCSI_CONTROLLER_TYPES.has(d._type ?? '');
}
export function isEthernetCard(d: VirtualDevice): boolean {
  return ETHERNET_TYPES.has(d._type ?? '');
}
export function isDisk(d: VirtualDevice): boolean {
  return d._type === 'VirtualDisk';
}
export function isCdrom(d: VirtualDevice): boolean {
  return d._type === 'VirtualCdrom';
}
export function isSerialPort(d: VirtualDevice): boolean {
  return d._type === 'VirtualSerialPort';
}

/** The lowest unit number on `controllerKey` that no device uses, or undefined when full. */
export function freeUnitNumber(
  devices: readonly VirtualDevice[],
  controllerKey: number,
  units: number,
  reserved: readonly number[] = [],
): number | undefined {
  const used = new Set(devices.filter((d) => d.controllerKey === controllerKey).map((d) => d.unitNumber));
  for (let unit = 0; unit < units; unit++) {
    if (!used.has(unit) && !reserved.includes(unit)) return unit;
  }
  return undefined;
}

/** A free (controller, unit) slot for a disk on one of the VM's SCSI controllers. */
export function freeScsiSlot(
  devices: readonly VirtualDevice[],
): { controllerKey: number; unitNumber: number } | undefined {
  for (const c of devices.filter(isScsiController)) {
    const unit = freeUnitNumber(devices, c.key, SCSI_UNITS, [SCSI_RESERVED_UNIT]);
    if (unit !== undefined) return { controllerKey: c.key, unitNumber: unit };
  }
  return undefined;
}

/** A free (controller, unit) slot on one of the VM's IDE controllers (for a CD-ROM). */
export function freeIdeSlot(
  devices: readonly VirtualDevice[],
): { controllerKey: number; unitNumber: number } | undefined {
  for (const c of devices.filter((d) => d._type === 'VirtualIDEController')) {
    const unit = freeUnitNumber(devices, c.key, IDE_UNITS);
    if (unit !== undefined) return { controllerKey: c.key, unitNumber: unit };
  }
  return undefined;
}

function connected(): VirtualDeviceConnectInfo {
  return { startConnected: true, allowGuestControl: false, connected: true };
}

/** A paravirtual SCSI controller on `busNumber`. */
export function addScsiControllerSpec(keys: TemporaryDeviceKeys, busNumber = 0): VirtualDeviceConfigSpec {
  const controller: ParaVirtualSCSIController = {
    _type: 'ParaVirtualSCSIController',
    key: keys.take(),
    busNumber,
    sharedBus: 'noSharing',
  };
  return { operation: 'add', device: controller };
}

export type DiskMode = 'persistent' | 'independent_persistent' | 'independent_nonpersistent' | 'nonpersistent';

export interface NewDiskOptions {
  readonly controllerKey: number;
  readonly unitNumber: number;
  readonly capacityKB: number;
  /** `[ds] dir/name.vmdk`, or `[ds]` to let vSphere name the file in the VM's folder. */
  readonly fileName: string;
  readonly thin?: boolean;
  readonly mode?: DiskMode;
}

/** A new disk: vSphere creates the VMDK (fileOperation create) with a flat backing. */
export function newDiskSpec(keys: TemporaryDeviceKeys, o: NewDiskOptions): VirtualDeviceConfigSpec {
  const backing: VirtualDiskFlatVer2BackingInfo = {
    _type: 'VirtualDiskFlatVer2BackingInfo',
    fileName: o.fileName,
    diskMode: o.mode ?? 'persistent',
    thinProvisioned: o.thin ?? true,
  };
  const disk: VirtualDisk = {
    _type: 'VirtualDisk',
    key: keys.take(),
    controllerKey: o.controllerKey,
    unitNumber: o.unitNumber,
    capacityInKB: o.capacityKB,
    backing,
  };
  return { operation: 'add', fileOperation: 'create', device: disk };
}

export interface ExistingDiskOptions {
  readonly controllerKey: number;
  readonly unitNumber: number;
  /** `[ds] dir/name.vmdk` of a disk that already exists. */
  readonly fileName: string;
  readonly mode?: DiskMode;
}

/** Attaches an existing VMDK (no fileOperation: the file is neither created nor replaced). */
export function existingDiskSpec(keys: TemporaryDeviceKeys, o: ExistingDiskOptions): VirtualDeviceConfigSpec {
  const backing: VirtualDiskFlatVer2BackingInfo = {
    _type: 'VirtualDiskFlatVer2BackingInfo',
    fileName: o.fileName,
    diskMode: o.mode ?? 'persistent',
  };
  const disk: VirtualDisk = {
    _type: 'VirtualDisk',
    key: keys.take(),
    controllerKey: o.controllerKey,
    unitNumber: o.unitNumber,
    // Required by the schema; vSphere takes the real size from the file.
    capacityInKB: 0,
    backing,
  };
  return { operation: 'add', device: disk };
}

/** Removes a device; `destroyFile` also deletes a disk's VMDK (fileOperation destroy). */
export function removeDeviceSpec(device: VirtualDevice, destroyFile = false): VirtualDeviceConfigSpec {
  return destroyFile ? { operation: 'remove', fileOperation: 'destroy', device } : { operation: 'remove', device };
}

export type NicBacking =
  /** A standard port group, by name (and its Network reference when known). */
  | { readonly kind: 'portGroup'; readonly name: string; readonly network?: ManagedObjectReference }
  /** A distributed port group: its switch's UUID and the port group's key. */
  | { readonly kind: 'dvPortGroup'; readonly switchUuid: string; readonly portgroupKey: string };

/** A vmxnet3 NIC on a standard or distributed port group, connected at power on. */
export function vmxnet3Spec(
  keys: TemporaryDeviceKeys,
  backing: NicBacking,
  macAddress?: string,
): VirtualDeviceConfigSpec {
  const nic: VirtualVmxnet3 = {
    _type: 'VirtualVmxnet3',
    key: keys.take(),
    addressType: macAddress ? 'manual' : 'generated',
    ...(macAddress ? { macAddress } : {}),
    connectable: connected(),
    backing: nicBacking(backing),
  };
  return { operation: 'add', device: nic };
}

function nicBacking(
  b: NicBacking,
): VirtualEthernetCardNetworkBackingInfo | VirtualEthernetCardDistributedVirtualPortBackingInfo {
  if (b.kind === 'portGroup') {
    return {
      _type: 'VirtualEthernetCardNetworkBackingInfo',
      deviceName: b.name,
      ...(b.network ? { network: b.network } : {}),
    };
  }
  return {
    _type: 'VirtualEthernetCardDistributedVirtualPortBackingInfo',
    port: { switchUuid: b.switchUuid, portgroupKey: b.portgroupKey },
  };
}

export interface CdromOptions {
  readonly controllerKey: number;
  readonly unitNumber: number;
  /** `[ds] path/image.iso`. */
  readonly isoPath: string;
}

/** A CD-ROM with an ISO image, connected at power on (the container VM boots from it). */
export function cdromIsoSpec(keys: TemporaryDeviceKeys, o: CdromOptions): VirtualDeviceConfigSpec {
  const backing: VirtualCdromIsoBackingInfo = { _type: 'VirtualCdromIsoBackingInfo', fileName: o.isoPath };
  const cdrom: VirtualCdrom = {
    _type: 'VirtualCdrom',
    key: keys.take(),
    controllerKey: o.controllerKey,
    unitNumber: o.unitNumber,
    connectable: connected(),
    backing,
  };
  return { operation: 'add', device: cdrom };
}

export interface SerialUriOptions {
  /** e.g. `tcp://10.0.0.1:2377`: where the port connects (client) or listens (server). */
  readonly serviceURI: string;
  /** 'client': the VM connects out to serviceURI; 'server': the VM listens on it. */
  readonly direction: 'client' | 'server';
  /** A virtual serial port concentrator, if one sits between. */
  readonly proxyURI?: string;
}

/**
 * A serial port backed by a network URI. yieldOnPoll lets a guest polling the port give
 * its CPU back instead of spinning.
 */
export function serialUriSpec(keys: TemporaryDeviceKeys, o: SerialUriOptions): VirtualDeviceConfigSpec {
  const backing: VirtualSerialPortURIBackingInfo = {
    _type: 'VirtualSerialPortURIBackingInfo',
    serviceURI: o.serviceURI,
    direction: o.direction,
    ...(o.proxyURI ? { proxyURI: o.proxyURI } : {}),
  };
  const port: VirtualSerialPort = {
    _type: 'VirtualSerialPort',
    key: keys.take(),
    yieldOnPoll: true,
    connectable: connected(),
    backing,
  };
  return { operation: 'add', device: port };
}

/** Where the VM's URI-backed serial port connects, if it has one. */
export function serialUriOf(devices: readonly VirtualDevice[] | undefined): string | undefined {
  return (findSerialUriPort(devices ?? [])?.backing as VirtualSerialPortURIBackingInfo | undefined)?.serviceURI;
}

function findSerialUriPort(devices: readonly VirtualDevice[]): VirtualSerialPort | undefined {
  return devices.find(
    (d): d is VirtualSerialPort =>
      d._type === 'VirtualSerialPort' && (d as VirtualSerialPort).backing?._type === 'VirtualSerialPortURIBackingInfo',
  );
}

/**
 * The edit that points the VM's URI-backed serial port at `serviceURI` (the VM must be off
 * to take it); undefined when it has no such port or it already connects there.
 */
export function serialUriRetargetSpec(
  devices: readonly VirtualDevice[],
  serviceURI: string,
): VirtualDeviceConfigSpec | undefined {
  const port = findSerialUriPort(devices);
  const backing = port?.backing as VirtualSerialPortURIBackingInfo | undefined;
  if (!port || !backing || backing.serviceURI === serviceURI) return undefined;
  const retargeted: VirtualSerialPortURIBackingInfo = { ...backing, serviceURI };
  const device: VirtualSerialPort = { ...port, backing: retargeted };
  return { operation: 'edit', device };
}
