/**
 * Where a VCH's VMs live: its own VM folder (`<datacenter>/vm/<vch>`, made on first use so
 * listing containers is a view of one folder) and its resource pool and image datastore.
 */
import { DuplicateNameError } from '../../vsphere/faults';
import { type Datacenter, Inventory } from '../../vsphere/inventory';
import type { VimContext } from '../../vsphere/tasks';
import type { ManagedObjectReference } from '../../vsphere/vim25/values';

export interface VchPlacement {
  readonly ctx: VimContext;
  /** The VCH's name: its folder on the datastore and in the VM inventory. */
  readonly vch: string;
  readonly datacenter: Datacenter;
  readonly folder: ManagedObjectReference;
  readonly pool: ManagedObjectReference;
  /** The image datastore's name (the template's and the containers' files go there too). */
  readonly datastore: string;
}

/** The VCH's VM folder, made when missing (two VCH processes racing both end up with it). */
export async function ensureVmFolder(ctx: VimContext, dc: Datacenter, vch: string): Promise<ManagedObjectReference> {
  const inventory = new Inventory(ctx.client);
  const path = `${dc.path}/vm/${vch}`;
  const found = await inventory.findByPath(path);
  if (found) return found;
  try {
    return await ctx.client.invoke('CreateFolder', dc.vmFolder, { name: vch });
  } catch (error) {
    if (!(error instanceof DuplicateNameError)) throw error;
    const again = await inventory.findByPath(path);
    if (!again) throw error;
    return again;
  }
}
