/**
 * Virtual machine operations: create, clone (full, linked from a snapshot, instant),
 * reconfigure (extraConfig, annotation, devices), power, destroy. Each task helper starts
 * the task and waits for it on the session's updates loop; faults come back typed.
 */
import {
  addScsiControllerSpec,
  cdromIsoSpec,
  type DiskMode,
  existingDiskSpec,
  freeIdeSlot,
  freeScsiSlot,
  type NicBacking,
  newDiskSpec,
  removeDeviceSpec,
  type SerialUriOptions,
  serialUriSpec,
  TemporaryDeviceKeys,
  vmxnet3Spec,
} from './deviceSpecs';
import { PropertyCollector } from './propertyCollector';
import { runTask, type VimContext, type WaitForTaskOptions } from './tasks';
import type {
  OptionValue,
  VirtualDevice,
  VirtualDeviceConfigSpec,
  VirtualMachineCloneSpec,
  VirtualMachineConfigSpec,
  VirtualMachinePowerState,
  VirtualMachineRelocateSpec,
} from './vim25/generated/types';
import type { ManagedObjectReference } from './vim25/values';

export interface VmPlacement {
  /** The VM folder the VM goes in. */
  readonly folder: ManagedObjectReference;
  readonly pool: ManagedObjectReference;
  readonly host?: ManagedObjectReference;
}

export interface NewVmOptions {
  readonly name: string;
  /** Datastore name: the VM's files go to `[datastore] name/`. */
  readonly datastore: string;
  readonly guestId?: string;
  readonly numCPUs?: number;
  readonly memoryMB?: number;
  readonly annotation?: string;
  readonly extraConfig?: Readonly<Record<string, string>>;
  /** Devices to add at creation (see deviceSpecs.ts). */
  readonly deviceChange?: readonly VirtualDeviceConfigSpec[];
}

/** extraConfig as vSphere takes it; a null or '' value removes the key. */
export function toOptionValues(values: Readonly<Record<string, string | null>>): OptionValue[] {
  return Object.entries(values).map(([key, value]) => ({ _type: 'OptionValue', key, value: value ?? '' }));
}

/**
 * extraConfig as a record. Later entries win and empty values count as absent, which is
 * what vSphere means by them (a server that appends instead of merging reads the same).
 */
export function fromOptionValues(options: readonly OptionValue[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const o of options ?? []) {
    const value = typeof o.value === 'string' ? o.value : o.value === undefined ? '' : String(o.value);
    if (value === '') delete out[o.key];
    else out[o.key] = value;
  }
  return out;
}

/** A config spec for a new VM with a paravirtual SCSI controller ready for disks. */
export function newVmConfigSpec(o: NewVmOptions): VirtualMachineConfigSpec {
  const keys = new TemporaryDeviceKeys();
  return {
    name: o.name,
    guestId: o.guestId ?? 'otherLinux64Guest',
    numCPUs: o.numCPUs ?? 1,
    memoryMB: o.memoryMB ?? 256,
    files: { vmPathName: `[${o.datastore}]` },
    ...(o.annotation !== undefined ? { annotation: o.annotation } : {}),
    ...(o.extraConfig ? { extraConfig: toOptionValues(o.extraConfig) } : {}),
    deviceChange: [addScsiControllerSpec(keys), ...(o.deviceChange ?? [])],
  };
}

export async function createVM(
  ctx: VimContext,
  placement: VmPlacement,
  config: VirtualMachineConfigSpec,
  options: WaitForTaskOptions = {},
): Promise<ManagedObjectReference> {
  return runTask<ManagedObjectReference>(
    ctx,
    () =>
      ctx.client.invoke('CreateVM_Task', placement.folder, {
        config,
        pool: placement.pool,
        ...(placement.host ? { host: placement.host } : {}),
      }),
    options,
  );
}

export interface CloneOptions {
  readonly name: string;
  readonly folder: ManagedObjectReference;
  readonly pool?: ManagedObjectReference;
  readonly host?: ManagedObjectReference;
  readonly datastore?: ManagedObjectReference;
  /**
   * Clone from this snapshot. With `linked`, the clone's disks are children of the
   * snapshot's disks (diskMoveType createNewChildDiskBacking) instead of full copies.
   */
  readonly snapshot?: ManagedObjectReference;
  readonly linked?: boolean;
  readonly powerOn?: boolean;
  readonly config?: VirtualMachineConfigSpec;
}

export async function cloneVM(
  ctx: VimContext,
  vm: ManagedObjectReference,
  o: CloneOptions,
  options: WaitForTaskOptions = {},
): Promise<ManagedObjectReference> {
  if (o.linked && !o.snapshot) throw new Error('a linked clone needs a snapshot to clone from');
  const location: VirtualMachineRelocateSpec = {
    ...(o.pool ? { pool: o.pool } : {}),
    ...(o.host ? { host: o.host } : {}),
    ...(o.datastore ? { datastore: o.datastore } : {}),
    ...(o.linked ? { diskMoveType: 'createNewChildDiskBacking' } : {}),
  };
  const spec: VirtualMachineCloneSpec = {
    location,
    template: false,
    powerOn: o.powerOn ?? false,
    ...(o.config ? { config: o.config } : {}),
    ...(o.snapshot ? { snapshot: o.snapshot } : {}),
  };
  return runTask<ManagedObjectReference>(
    ctx,
    () => ctx.client.invoke('CloneVM_Task', vm, { folder: o.folder, name: o.name, spec }),
    options,
  );
}

export interface InstantCloneOptions {
  readonly name: string;
  readonly folder?: ManagedObjectReference;
  readonly pool?: ManagedObjectReference;
  readonly host?: ManagedObjectReference;
  readonly datastore?: ManagedObjectReference;
  /** The child's identity: goes in the spec's `config` (extraConfig) for the guest to read. */
  readonly extraConfig?: Readonly<Record<string, string>>;
  /** Devices changed on the child (e.g. a NIC moved to another port group). */
  readonly deviceChange?: readonly VirtualDeviceConfigSpec[];
}

/** InstantClone_Task: the source must be powered on or frozen; the child starts powered on. */
export async function instantClone(
  ctx: VimContext,
  vm: ManagedObjectReference,
  o: InstantCloneOptions,
  options: WaitForTaskOptions = {},
): Promise<ManagedObjectReference> {
  const location: VirtualMachineRelocateSpec = {
    ...(o.folder ? { folder: o.folder } : {}),
    ...(o.pool ? { pool: o.pool } : {}),
    ...(o.host ? { host: o.host } : {}),
    ...(o.datastore ? { datastore: o.datastore } : {}),
    ...(o.deviceChange ? { deviceChange: [...o.deviceChange] } : {}),
  };
  return runTask<ManagedObjectReference>(
    ctx,
    () =>
      ctx.client.invoke('InstantClone_Task', vm, {
        spec: {
          name: o.name,
          location,
          ...(o.extraConfig ? { config: toOptionValues(o.extraConfig) } : {}),
        },
      }),
    options,
  );
}

export async function createSnapshot(
  ctx: VimContext,
  vm: ManagedObjectReference,
  name: string,
  o: { description?: string; memory?: boolean; quiesce?: boolean } = {},
): Promise<ManagedObjectReference> {
  return runTask<ManagedObjectReference>(ctx, () =>
    ctx.client.invoke('CreateSnapshot_Task', vm, {
      name,
      ...(o.description !== undefined ? { description: o.description } : {}),
      memory: o.memory ?? false,
      quiesce: o.quiesce ?? false,
    }),
  );
}

export async function reconfigure(
  ctx: VimContext,
  vm: ManagedObjectReference,
  spec: VirtualMachineConfigSpec,
  options: WaitForTaskOptions = {},
): Promise<void> {
  await runTask(ctx, () => ctx.client.invoke('ReconfigVM_Task', vm, { spec }), options);
}

/** Sets extraConfig keys; a null value removes the key. Other keys are left alone. */
export function setExtraConfig(
  ctx: VimContext,
  vm: ManagedObjectReference,
  values: Readonly<Record<string, string | null>>,
): Promise<void> {
  return reconfigure(ctx, vm, { extraConfig: toOptionValues(values) });
}

export function removeExtraConfig(ctx: VimContext, vm: ManagedObjectReference, keys: readonly string[]): Promise<void> {
  return setExtraConfig(ctx, vm, Object.fromEntries(keys.map((k) => [k, null])));
}

export async function readExtraConfig(ctx: VimContext, vm: ManagedObjectReference): Promise<Record<string, string>> {
  const { props } = await new PropertyCollector(ctx.client).retrieveOne(vm, ['config.extraConfig']);
  return fromOptionValues(props['config.extraConfig'] as OptionValue[] | undefined);
}

export function setAnnotation(ctx: VimContext, vm: ManagedObjectReference, annotation: string): Promise<void> {
  return reconfigure(ctx, vm, { annotation });
}

export async function readDevices(ctx: VimContext, vm: ManagedObjectReference): Promise<VirtualDevice[]> {
  const { props } = await new PropertyCollector(ctx.client).retrieveOne(vm, ['config.hardware.device']);
  return (props['config.hardware.device'] as VirtualDevice[] | undefined) ?? [];
}

export async function powerState(ctx: VimContext, vm: ManagedObjectReference): Promise<VirtualMachinePowerState> {
  const { props } = await new PropertyCollector(ctx.client).retrieveOne(vm, ['runtime.powerState']);
  return props['runtime.powerState'] as VirtualMachinePowerState;
}

/** Applies device changes in one ReconfigVM_Task. */
export function changeDevices(
  ctx: VimContext,
  vm: ManagedObjectReference,
  deviceChange: readonly VirtualDeviceConfigSpec[],
): Promise<void> {
  return reconfigure(ctx, vm, { deviceChange: [...deviceChange] });
}

export interface AddDiskOptions {
  /** New disk: its size. Omit together with passing `existing` to attach a VMDK. */
  readonly capacityKB?: number;
  /** `[ds] dir/name.vmdk` for a new disk, or `[ds]` to let vSphere name it beside the VM. */
  readonly fileName: string;
  /** Attach the VMDK at fileName instead of creating it. */
  readonly existing?: boolean;
  readonly thin?: boolean;
  readonly mode?: DiskMode;
}

/**
 * Adds a disk in the first free slot of the VM's SCSI controllers, adding a paravirtual
 * controller in the same reconfigure when the VM has none with room. Returns the disk as
 * the VM now lists it.
 */
export async function addDisk(ctx: VimContext, vm: ManagedObjectReference, o: AddDiskOptions): Promise<VirtualDevice> {
  const before = await readDevices(ctx, vm);
  const keys = new TemporaryDeviceKeys();
  const changes: VirtualDeviceConfigSpec[] = [];
  let slot = freeScsiSlot(before);
  if (!slot) {
    const busNumber = nextScsiBus(before);
    const controller = addScsiControllerSpec(keys, busNumber);
    changes.push(controller);
    slot = { controllerKey: controller.device.key, unitNumber: 0 };
  }
  changes.push(
    o.existing
      ? existingDiskSpec(keys, { ...slot, fileName: o.fileName, mode: o.mode })
      : newDiskSpec(keys, { ...slot, fileName: o.fileName, capacityKB: o.capacityKB ?? 0, thin: o.thin, mode: o.mode }),
  );
  await changeDevices(ctx, vm, changes);
  return addedDevice(ctx, vm, before, (d) => d._type === 'VirtualDisk');
}

/** Removes a device; for a disk, `destroyFile` deletes its VMDK too. */
export function removeDevice(
  ctx: VimContext,
  vm: ManagedObjectReference,
  device: VirtualDevice,
  destroyFile = false,
): Promise<void> {
  return changeDevices(ctx, vm, [removeDeviceSpec(device, destroyFile)]);
}

export async function addNic(ctx: VimContext, vm: ManagedObjectReference, backing: NicBacking): Promise<VirtualDevice> {
  const before = await readDevices(ctx, vm);
  await changeDevices(ctx, vm, [vmxnet3Spec(new TemporaryDeviceKeys(), backing)]);
  return addedDevice(ctx, vm, before, (d) => d._type === 'VirtualVmxnet3');
}

export async function addCdrom(ctx: VimContext, vm: ManagedObjectReference, isoPath: string): Promise<VirtualDevice> {
  const before = await readDevices(ctx, vm);
  const slot = freeIdeSlot(before);
  if (!slot) throw new Error(`VM ${vm.value} has no free IDE slot for a CD-ROM`);
  await changeDevices(ctx, vm, [cdromIsoSpec(new TemporaryDeviceKeys(), { ...slot, isoPath })]);
  return addedDevice(ctx, vm, before, (d) => d._type === 'VirtualCdrom');
}

export async function addSerialPort(
  ctx: VimContext,
  vm: ManagedObjectReference,
  o: SerialUriOptions,
): Promise<VirtualDevice> {
  const before = await readDevices(ctx, vm);
  await changeDevices(ctx, vm, [serialUriSpec(new TemporaryDeviceKeys(), o)]);
  return addedDevice(ctx, vm, before, (d) => d._type === 'VirtualSerialPort');
}

async function addedDevice(
  ctx: VimContext,
  vm: ManagedObjectReference,
  before: readonly VirtualDevice[],
  match: (d: VirtualDevice) => boolean,
): Promise<VirtualDevice> {
  const known = new Set(before.map((d) => d.key));
  const after = await readDevices(ctx, vm);
  const added = after.filter((d) => !known.has(d.key) && match(d));
  if (added.length === 0) throw new Error(`VM ${vm.value}: the device was not added`);
  return added[added.length - 1];
}

function nextScsiBus(devices: readonly VirtualDevice[]): number {
  const buses = new Set(
    devices
      .filter((d) => d._type !== undefined && /SCSIController$|LsiLogic|BusLogic/.test(d._type))
      .map((d) => (d as { busNumber?: number }).busNumber),
  );
  for (let bus = 0; bus < 4; bus++) if (!buses.has(bus)) return bus;
  throw new Error('the VM already has four SCSI controllers, all full');
}

export async function powerOn(
  ctx: VimContext,
  vm: ManagedObjectReference,
  options: WaitForTaskOptions = {},
): Promise<void> {
  await runTask(ctx, () => ctx.client.invoke('PowerOnVM_Task', vm, {}), options);
}

export async function powerOff(
  ctx: VimContext,
  vm: ManagedObjectReference,
  options: WaitForTaskOptions = {},
): Promise<void> {
  await runTask(ctx, () => ctx.client.invoke('PowerOffVM_Task', vm, {}), options);
}

/** Destroy_Task: unregisters the VM and deletes its files. */
export async function destroyVM(
  ctx: VimContext,
  vm: ManagedObjectReference,
  options: WaitForTaskOptions = {},
): Promise<void> {
  await runTask(ctx, () => ctx.client.invoke('Destroy_Task', vm, {}), options);
}
