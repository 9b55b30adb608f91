/**
 * The template VMs containers are instant clones of (docs/container-vm.md): the bootstrap
 * ISO on the image datastore, a VM of one size booting it with an empty SCSI controller and
 * the backchannel serial port, powered on until its tether asks to be frozen. An existing
 * frozen template of the same ISO, size and attach server is reused; any other is replaced.
 * (An instant clone may not edit a URI-backed serial port, so every clone dials the attach
 * server its template was made for.)
 */
import { cdromIsoSpec, freeIdeSlot, serialUriOf, serialUriSpec, TemporaryDeviceKeys } from '../../vsphere/deviceSpecs';
import { PropertyCollector } from '../../vsphere/propertyCollector';
import type { VimContext } from '../../vsphere/tasks';
import type { OptionValue, VirtualDevice } from '../../vsphere/vim25/generated/types';
import type { ManagedObjectReference } from '../../vsphere/vim25/values';
import {
  changeDevices,
  createVM,
  destroyVM,
  fromOptionValues,
  newVmConfigSpec,
  powerOff,
  powerOn,
  readDevices,
} from '../../vsphere/virtualMachine';
import type { ImageDatastore } from '../storage/images/image-datastore';
import type { VchPlacement } from './placement';
import { DEFAULT_SIZE, sameSize, sizeLabel, type VmSize } from './sizes';
import { KEY_ROLE } from './spec';

/** Which bootstrap image a template boots: a replaced ISO means a new template. */
export const KEY_BOOTSTRAP = 'guestinfo.vch.bootstrap';

export interface BootstrapIso {
  /** Local path of the ISO. */
  readonly path: string;
  /** Its content hash (the bootstrap manifest's). */
  readonly hash: string;
}

export interface TemplateOptions {
  readonly iso: BootstrapIso;
  /** The attach server's address for the VMs: `tcp://host:port`. */
  readonly serialUri: string;
  /** Its vCPUs and memory, which every clone of it has; default DEFAULT_SIZE. */
  readonly size?: VmSize;
  /** Extra extraConfig for the template (tests give a test guest its mode). */
  readonly extraConfig?: Readonly<Record<string, string>>;
  /** How long the tether may take from power on to frozen. */
  readonly freezeTimeoutMs?: number;
  readonly log?: (msg: string) => void;
}

export interface Template {
  readonly vm: ManagedObjectReference;
  readonly name: string;
  readonly size: VmSize;
  /** Its devices: a clone has the same, so disk units are chosen from them. */
  readonly devices: readonly VirtualDevice[];
  /** Set when this call made the template: power on → frozen, ms. */
  readonly freezeMs?: number;
  readonly isoUploadMs?: number;
}

/** `<vch>-template` for the default size (as before sizes existed), `<vch>-template-2cpu-512mb` for others. */
export function templateName(vch: string, size: VmSize = DEFAULT_SIZE): string {
  return sameSize(size, DEFAULT_SIZE) ? `${vch}-template` : `${vch}-template-${sizeLabel(size)}`;
}

/** ImageDatastore has no stat and reads whole files: a small marker beside the ISO says it is whole. */
async function datastoreFileExists(ds: ImageDatastore, rel: string): Promise<boolean> {
  return (await ds.readFile(`${rel}.done`)) !== undefined;
}

/** Uploads the ISO once per content hash; the `.done` marker is the commit point. */
export async function ensureBootstrapIso(
  ds: ImageDatastore,
  vch: string,
  iso: BootstrapIso,
): Promise<{ path: string; uploadMs?: number }> {
  const rel = `${vch}/bootstrap/${iso.hash}.iso`;
  if (await datastoreFileExists(ds, rel)) return { path: ds.datastorePath(rel) };
  await ds.makeDirectory(`${vch}/bootstrap`);
  const t0 = Date.now();
  await ds.uploadFile(iso.path, rel);
  const uploadMs = Date.now() - t0;
  await ds.writeFile(`${rel}.done`, Buffer.from(`${iso.hash}\n`));
  return { path: ds.datastorePath(rel), uploadMs };
}

interface TemplateState {
  readonly vm: ManagedObjectReference;
  readonly frozen: boolean;
  readonly powerState: string;
  readonly bootstrap: string | undefined;
  /** The attach server its serial port (and so every clone's) dials. */
  readonly serialUri: string | undefined;
}

interface NamedTemplateState extends TemplateState {
  readonly name: string;
  readonly role: string | undefined;
}

async function folderVms(ctx: VimContext, folder: ManagedObjectReference): Promise<NamedTemplateState[]> {
  const pc = new PropertyCollector(ctx.client);
  const vms = await pc.withContainerView(folder, ['VirtualMachine'], (view) =>
    pc.retrieve(view, 'VirtualMachine', [
      'name',
      'runtime.instantCloneFrozen',
      'runtime.powerState',
      'config.extraConfig',
    ]),
  );
  const states = vms.map((v) => {
    const ec = fromOptionValues(v.props['config.extraConfig'] as OptionValue[] | undefined);
    return {
      vm: v.obj,
      name: String(v.props.name ?? ''),
      role: ec[KEY_ROLE],
      frozen: v.props['runtime.instantCloneFrozen'] === true,
      powerState: String(v.props['runtime.powerState'] ?? 'poweredOff'),
      bootstrap: ec[KEY_BOOTSTRAP],
    };
  });
  // Devices of the templates only: the folder holds every container VM too.
  const templates = states.filter((t) => t.role === 'template').map((t) => t.vm);
  const devices = new Map(
    (await pc.retrieve(templates, 'VirtualMachine', ['config.hardware.device'])).map((d) => [
      d.obj.value,
      d.props['config.hardware.device'] as VirtualDevice[] | undefined,
    ]),
  );
  return states.map((t) => ({ ...t, serialUri: serialUriOf(devices.get(t.vm.value)) }));
}

/**
 * The attach server address this VCH's templates were made for, if it has any: a VCH that
 * starts again listens there when it can, so its templates, and the containers still
 * running from them, reach it without being made again.
 */
export async function previousSerialUri(p: Pick<VchPlacement, 'ctx' | 'folder'>): Promise<string | undefined> {
  const templates = (await folderVms(p.ctx, p.folder)).filter((t) => t.role === 'template');
  return templates.find((t) => t.frozen)?.serialUri ?? templates[0]?.serialUri;
}

/** Why a template cannot serve: made for another bootstrap image or attach server. */
function staleness(t: TemplateState, isoHash: string, serialUri: string): string | undefined {
  if (t.bootstrap !== isoHash) return `bootstrap ${t.bootstrap ?? 'unknown'} → ${isoHash}`;
  if (t.serialUri !== serialUri) return `attach server ${t.serialUri ?? 'none'} → ${serialUri}`;
  return undefined;
}

async function findTemplate(ctx: VimContext, folder: ManagedObjectReference, name: string): Promise<TemplateState[]> {
  return (await folderVms(ctx, folder)).filter((v) => v.name === name);
}

/** Resolves once the VM reports `runtime.instantCloneFrozen` (a watch on the updates loop). */
export function untilFrozen(ctx: VimContext, vm: ManagedObjectReference, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      void sub.then((u) => u()).catch(() => undefined);
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(
      () => finish(new Error(`the template VM ${vm.value} was not frozen within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const sub = ctx.updates.watch(vm, ['runtime.instantCloneFrozen', 'runtime.powerState'], ({ kind, values }) => {
      if (kind === 'leave') finish(new Error(`the template VM ${vm.value} was deleted while booting`));
      else if (values['runtime.instantCloneFrozen'] === true) finish();
      else if (kind !== 'enter' && values['runtime.powerState'] === 'poweredOff') {
        finish(new Error(`the template VM ${vm.value} powered off before it froze (see its console)`));
      }
    });
    sub.catch((e: unknown) => finish(e as Error));
  });
}

async function discard(ctx: VimContext, t: Pick<TemplateState, 'vm' | 'powerState'>): Promise<void> {
  if (t.powerState !== 'poweredOff') await powerOff(ctx, t.vm).catch(() => undefined);
  await destroyVM(ctx, t.vm);
}

/**
 * Templates of another bootstrap image or attach server (any size): a frozen template holds
 * its memory on the host, and no new container will be cloned from one. Sizes in use are
 * made again on demand.
 */
export async function discardStaleTemplates(
  p: VchPlacement,
  o: Pick<TemplateOptions, 'iso' | 'serialUri' | 'log'>,
): Promise<void> {
  for (const t of await folderVms(p.ctx, p.folder)) {
    const why = t.role === 'template' ? staleness(t, o.iso.hash, o.serialUri) : undefined;
    if (!why) continue;
    o.log?.(`removing the template ${t.name} (${t.vm.value}): ${why}`);
    await discard(p.ctx, t);
  }
}

export async function ensureTemplate(p: VchPlacement, ds: ImageDatastore, o: TemplateOptions): Promise<Template> {
  const log = o.log ?? (() => {});
  const size = o.size ?? DEFAULT_SIZE;
  const name = templateName(p.vch, size);
  const iso = await ensureBootstrapIso(ds, p.vch, o.iso);
  const timeout = o.freezeTimeoutMs ?? 180_000;
  for (const t of await findTemplate(p.ctx, p.folder, name)) {
    const why = staleness(t, o.iso.hash, o.serialUri);
    if (!why && t.frozen) {
      log(`reusing the frozen template ${name} (${t.vm.value})`);
      return { vm: t.vm, name, size, devices: await readDevices(p.ctx, t.vm) };
    }
    if (!why && t.powerState === 'poweredOn') {
      // Another VCH process (or one that died) is making it: wait for it rather than race.
      const ok = await untilFrozen(p.ctx, t.vm, timeout).then(
        () => true,
        () => false,
      );
      if (ok) return { vm: t.vm, name, size, devices: await readDevices(p.ctx, t.vm) };
    }
    log(`replacing the template ${t.vm.value} (${why ?? 'it never froze'})`);
    await discard(p.ctx, t);
  }
  const spec = newVmConfigSpec({
    name,
    datastore: p.datastore,
    memoryMB: size.memoryMB,
    numCPUs: size.cpus,
    annotation: `VCH ${p.vch}: the template its ${size.cpus} vCPU, ${size.memoryMB} MiB container VMs are instant clones of. Do not power off.`,
    extraConfig: { [KEY_ROLE]: 'template', [KEY_BOOTSTRAP]: o.iso.hash, ...(o.extraConfig ?? {}) },
  });
  const vm = await createVM(p.ctx, { folder: p.folder, pool: p.pool }, spec);
  // The CD goes on an IDE controller the new VM has (ESXi and vcsim both add two at creation).
  const devices = await readDevices(p.ctx, vm);
  const slot = freeIdeSlot(devices);
  if (!slot) throw new Error(`the template VM ${vm.value} has no free IDE slot for its CD-ROM`);
  const keys = new TemporaryDeviceKeys();
  await changeDevices(p.ctx, vm, [
    cdromIsoSpec(keys, { ...slot, isoPath: iso.path }),
    serialUriSpec(keys, { serviceURI: o.serialUri, direction: 'client' }),
  ]);
  const t0 = Date.now();
  try {
    await powerOn(p.ctx, vm);
    await untilFrozen(p.ctx, vm, timeout);
  } catch (error) {
    // A template that never froze is of no use to anyone: the next attempt starts clean.
    await discard(p.ctx, { vm, powerState: 'poweredOn' }).catch(() => undefined);
    throw error;
  }
  const freezeMs = Date.now() - t0;
  log(`template ${name} (${vm.value}) frozen in ${freezeMs} ms`);
  return {
    vm,
    name,
    size,
    devices: await readDevices(p.ctx, vm),
    freezeMs,
    ...(iso.uploadMs !== undefined ? { isoUploadMs: iso.uploadMs } : {}),
  };
}
