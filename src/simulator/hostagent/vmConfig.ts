/**
 * What the agent needs to run a VM, read from the properties it watches: memory, CPUs,
 * the bootstrap CD, disks, the network serial port and extraConfig. Pure functions over
 * decoded vim25 values, so they are testable without a simulator.
 */
import type {
  OptionValue,
  VirtualDevice,
  VirtualDeviceFileBackingInfo,
  VirtualDeviceURIBackingInfo,
  VirtualDiskFlatVer2BackingInfo,
  VirtualHardware,
} from '../../vsphere/vim25/generated/types';
import type { VimAny } from '../../vsphere/vim25/values';
import { fromOptionValues } from '../../vsphere/virtualMachine';

/** The properties the agent watches on every VirtualMachine. */
export const WATCHED_PATHS = ['name', 'runtime.powerState', 'config.hardware', 'config.extraConfig'] as const;
export type WatchedPath = (typeof WATCHED_PATHS)[number];
export type WatchedValues = Readonly<Partial<Record<WatchedPath, VimAny | undefined>>>;

/** extraConfig the simulator sets on an InstantClone_Task child: the source VM's moref value. */
export const CLONE_SOURCE_KEY = 'sim.instantClone.source';
/** extraConfig that makes the simulator mark a VM `runtime.instantCloneFrozen`. */
export const FREEZE_KEY = 'sim.instantClone.freeze';

export interface DiskSpec {
  readonly key: number;
  /** `[ds] dir/name.vmdk` */
  readonly fileName: string;
  /** A child disk's parents, nearest first (`backing.parent` chain): it runs as a qcow2 overlay. */
  readonly parents: readonly string[];
  readonly capacityKB: number;
  readonly readOnly: boolean;
  /** Its controller's `busNumber` and its `unitNumber` there: where the guest finds it. */
  readonly busNumber: number;
  readonly unitNumber?: number;
}

export interface VmConfig {
  readonly name: string;
  readonly powerState: string;
  readonly memoryMB: number;
  readonly numCPU: number;
  /** `[ds] path.iso` of the first connected ISO-backed CD-ROM: what the VM boots. */
  readonly isoPath?: string;
  readonly disks: readonly DiskSpec[];
  /** serviceURI of the first network-backed serial port: the backchannel. */
  readonly serialUri?: string;
  readonly extraConfig: Readonly<Record<string, string>>;
}

function backingOf(d: VirtualDevice): (VirtualDeviceFileBackingInfo & { _type?: string }) | undefined {
  return d.backing as (VirtualDeviceFileBackingInfo & { _type?: string }) | undefined;
}

/** A device the guest should see: unset `connectable` counts as connected (vSphere's default). */
function connectedAtPowerOn(d: VirtualDevice): boolean {
  return d.connectable === undefined || d.connectable.startConnected || d.connectable.connected;
}

export function vmConfigOf(values: WatchedValues): VmConfig {
  const hw = values['config.hardware'] as VirtualHardware | undefined;
  const devices = hw?.device ?? [];
  const iso = devices.find(
    (d) => d._type === 'VirtualCdrom' && backingOf(d)?._type === 'VirtualCdromIsoBackingInfo' && connectedAtPowerOn(d),
  );
  const serial = devices.find(
    (d) =>
      d._type === 'VirtualSerialPort' &&
      backingOf(d)?._type === 'VirtualSerialPortURIBackingInfo' &&
      connectedAtPowerOn(d),
  );
  const busOf = new Map(devices.map((d) => [d.key, (d as VirtualDevice & { busNumber?: number }).busNumber ?? 0]));
  const disks: DiskSpec[] = devices
    .filter((d) => d._type === 'VirtualDisk' && typeof backingOf(d)?.fileName === 'string')
    .map((d) => {
      const backing = d.backing as VirtualDiskFlatVer2BackingInfo;
      const disk = d as VirtualDevice & { capacityInKB?: number; capacityInBytes?: number };
      const parents: string[] = [];
      for (let p = backing.parent; p; p = p.parent) parents.push(p.fileName);
      return {
        key: d.key,
        fileName: backing.fileName,
        parents,
        capacityKB: disk.capacityInKB ?? Math.ceil((disk.capacityInBytes ?? 0) / 1024),
        readOnly: backing.diskMode === 'nonpersistent' || backing.diskMode === 'independent_nonpersistent',
        busNumber: d.controllerKey === undefined ? 0 : (busOf.get(d.controllerKey) ?? 0),
        unitNumber: d.unitNumber,
      };
    });
  return {
    name: typeof values.name === 'string' ? values.name : '',
    powerState: typeof values['runtime.powerState'] === 'string' ? values['runtime.powerState'] : 'poweredOff',
    memoryMB: hw?.memoryMB ?? 128,
    numCPU: hw?.numCPU ?? 1,
    isoPath: iso ? backingOf(iso)?.fileName : undefined,
    disks,
    serialUri: serial ? (serial.backing as VirtualDeviceURIBackingInfo).serviceURI : undefined,
    extraConfig: fromOptionValues(values['config.extraConfig'] as OptionValue[] | undefined),
  };
}
