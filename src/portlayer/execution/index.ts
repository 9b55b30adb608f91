/**
 * The execution room: `openExecution` readies a VCH's default template and scratch disk,
 * fills the container cache from vSphere and hands back the ContainerService.
 */

import type { Datacenter } from '../../vsphere/inventory';
import type { VimContext } from '../../vsphere/tasks';
import type { ManagedObjectReference } from '../../vsphere/vim25/values';
import type { AttachServer } from '../interaction/attach-server';
import type { ImageDatastore } from '../storage/images/image-datastore';
import { ensureScratchDisk, type ScratchDisk } from './disks';
import type { ContainerImages } from './images';
import { ContainerLifecycle } from './lifecycle';
import { ensureVmFolder } from './placement';
import { ContainerCache } from './state';
import type { BootstrapIso, Template } from './template';
import { Templates } from './templates';
import { Tethers } from './tethers';

export { ensureScratchDisk, SCRATCH_BYTES } from './disks';
export { type ContainerImages, ImageStoreImages } from './images';
export { ContainerLifecycle } from './lifecycle';
export { DEFAULT_SIZE, MIN_MEMORY_MB, resourcesOf, type VmSize, vmSizeOf } from './sizes';
export { ContainerCache } from './state';
export { ensureTemplate, templateName, untilFrozen } from './template';
export { Templates } from './templates';
export { Tethers } from './tethers';

export interface ExecutionOptions {
  readonly ctx: VimContext;
  readonly vch: string;
  readonly datacenter: Datacenter;
  readonly pool: ManagedObjectReference;
  /** The image datastore (its name, and file access for the ISO and the scratch disk). */
  readonly datastore: string;
  readonly files: ImageDatastore;
  readonly images: ContainerImages;
  readonly iso: BootstrapIso;
  readonly attachServer: AttachServer;
  /** What the VMs' serial ports connect to: `tcp://host:port` of the attach server. */
  readonly serialUri: string;
  readonly templateExtraConfig?: Readonly<Record<string, string>>;
  readonly scratchBytes?: number;
  readonly log?: (msg: string) => void;
}

export interface Execution {
  readonly containers: ContainerLifecycle;
  /** The default size's template, made (or found) at open. */
  readonly template: Template;
  /** Every size's, made on first use. */
  readonly templates: Templates;
  readonly scratch: ScratchDisk;
  readonly tethers: Tethers;
  close(): Promise<void>;
}

export async function openExecution(o: ExecutionOptions): Promise<Execution> {
  const folder = await ensureVmFolder(o.ctx, o.datacenter, o.vch);
  const placement = { ctx: o.ctx, vch: o.vch, datacenter: o.datacenter, folder, pool: o.pool, datastore: o.datastore };
  const scratch = await ensureScratchDisk(o.files, o.vch, o.scratchBytes);
  if (scratch.uploadMs !== undefined) o.log?.(`scratch disk uploaded in ${scratch.uploadMs} ms`);
  const templates = await Templates.open(placement, o.files, {
    iso: o.iso,
    serialUri: o.serialUri,
    ...(o.templateExtraConfig ? { extraConfig: o.templateExtraConfig } : {}),
    ...(o.log ? { log: o.log } : {}),
  });
  const cache = await ContainerCache.open(o.ctx.updates, folder);
  const tethers = new Tethers(o.attachServer);
  const containers = new ContainerLifecycle({
    placement,
    templates,
    scratch,
    images: o.images,
    cache,
    tethers,
    files: o.files,
    ...(o.log ? { log: o.log } : {}),
  });
  return {
    containers,
    template: templates.defaultTemplate,
    templates,
    scratch,
    tethers,
    close: async () => {
      await containers.close();
      tethers.close();
      await cache.close();
    },
  };
}
