/**
 * The template VM every container is an instant clone of (docs/container-vm.md): the
 * bootstrap ISO on the image datastore, a VM booting it with an empty SCSI controller and
 * the backchannel serial port, powered on until its tether asks to be frozen. An existing
 * frozen template of the same ISO is reused; one of another ISO is replaced.
 */
import { cdromIsoSpec, freeIdeSlot, serialUriSpec, TemporaryDeviceKeys } from '../../vsphere/deviceSpecs';
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
  readonly memoryMB?: number;
  /** Extra extraConfig for the template (tests give a test guest its mode). */
  readonly extraConfig?: Readonly<Record<string, string>>;
  /** How long the tether may take from power on to frozen. */
  readonly freezeTimeoutMs?: number;
  readonly log?: (msg: string) => void;
}

export interface Template {
  readonly vm: ManagedObjectReference;
  readonly name: string;
  /** Its devices: a clone has the same, so disk units are chosen from them. */
  readonly devices: readonly VirtualDevice[];
  /** Set when this call made the template: power on → frozen, ms. */
  readonly freezeMs?: number;
  readonly isoUploadMs?: number;
}

export function templateName(vch: string): string {
  return `${vch}-template`;
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
}

async function findTemplate(ctx: VimContext, folder: ManagedObjectReference, name: string): Promise<TemplateState[]> {
  const pc = new PropertyCollector(ctx.client);
  const vms = await pc.withContainerView(folder, ['VirtualMachine'], (view) =>
    pc.retrieve(view, 'VirtualMachine', [
      'name',
      'runtime.instantCloneFrozen',
      'runtime.powerState',
      'config.extraConfig',
    ]),
  );
  return vms
    .filter((v) => v.props.name === name)
    .map((v) => {
      const ec = fromOptionValues(v.props['config.extraConfig'] as OptionValue[] | undefined);
      return {
        vm: v.obj,
        frozen: v.props['runtime.instantCloneFrozen'] === true,
        powerState: String(v.props['runtime.powerState'] ?? 'poweredOff'),
        bootstrap: ec[KEY_BOOTSTRAP],
      };
    });
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

async function discard(ctx: VimContext, t: TemplateState): Promise<void> {
  if (t.powerState !== 'poweredOff') await powerOff(ctx, t.vm).catch(() => undefined);
  await destroyVM(ctx, t.vm);
}

export async function ensureTemplate(p: VchPlacement, ds: ImageDatastore, o: TemplateOptions): Promise<Template> {
  const log = o.log ?? (() => {});
  const name = templateName(p.vch);
  const iso = await ensureBootstrapIso(ds, p.vch, o.iso);
  const timeout = o.freezeTimeoutMs ?? 180_000;
  for (const t of await findTemplate(p.ctx, p.folder, name)) {
    if (t.bootstrap === o.iso.hash && t.frozen) {
      log(`reusing the frozen template ${t.vm.value}`);
      return { vm: t.vm, name, devices: await readDevices(p.ctx, t.vm) };
    }
    if (t.bootstrap === o.iso.hash && t.powerState === 'poweredOn') {
      // Another VCH process (or one that died) is making it: wait for it rather than race.
      const ok = await untilFrozen(p.ctx, t.vm, timeout).then(
        () => true,
        () => false,
      );
      if (ok) return { vm: t.vm, name, devices: await readDevices(p.ctx, t.vm) };
    }
    log(`replacing the template ${t.vm.value} (bootstrap ${t.bootstrap ?? 'unknown'} → ${o.iso.hash})`);
    await discard(p.ctx, t);
  }
  const spec = newVmConfigSpec({
    name,
    datastore: p.datastore,
    memoryMB: o.memoryMB ?? 256,
    numCPUs: 1,
    annotation: `VCH ${p.vch}: the template its container VMs are instant clones of. Do not power off.`,
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
  await powerOn(p.ctx, vm);
  await untilFrozen(p.ctx, vm, timeout);
  const freezeMs = Date.now() - t0;
  log(`template ${vm.value} frozen in ${freezeMs} ms`);
  return {
    vm,
    name,
    devices: await readDevices(p.ctx, vm),
    freezeMs,
    ...(iso.uploadMs !== undefined ? { isoUploadMs: iso.uploadMs } : {}),
  };
}
