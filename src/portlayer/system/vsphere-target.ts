/**
 * The vSphere side of a VCH: one logged-in session and the inventory objects it works in
 * (datacenter, resource pool, image datastore), resolved once at start by inventory path so
 * a mistyped name fails the start with a message listing what does exist.
 */

import { VimClient } from '../../vsphere/client';
import type { DatacenterRef } from '../../vsphere/datastore';
import { type Datacenter, Inventory, type InventoryItem, InventoryNotFoundError } from '../../vsphere/inventory';
import { PropertyCollector } from '../../vsphere/propertyCollector';
import type { VimContext } from '../../vsphere/tasks';
import { closeUpdatesFor, updatesFor } from '../../vsphere/updates';
import type { ManagedObjectReference } from '../../vsphere/vim25/values';
import type { PortLayerConfig } from '../config';

export interface VsphereTarget {
  readonly ctx: VimContext;
  readonly datacenter: Datacenter;
  /** What datastore calls need of the datacenter. */
  readonly dc: DatacenterRef;
  readonly pool: InventoryItem;
  readonly imageDatastore: InventoryItem;
  /** Ends the updates loop and logs out. */
  close(): Promise<void>;
}

/**
 * `--pool` may name a resource pool or, as administrators often do, a cluster: a cluster
 * stands for its root pool (`<cluster>/Resources`).
 */
async function resolvePool(
  inventory: Inventory,
  pc: PropertyCollector,
  dc: Datacenter,
  path?: string,
): Promise<ManagedObjectReference> {
  try {
    return await inventory.resourcePool(dc, path);
  } catch (error) {
    if (!(error instanceof InventoryNotFoundError) || path === undefined) throw error;
    const cluster = await inventory.cluster(dc, path).catch(() => undefined);
    if (cluster === undefined) throw error;
    const { props } = await pc.retrieveOne(cluster, ['resourcePool']);
    return props.resourcePool as ManagedObjectReference;
  }
}

function itemFor(items: readonly InventoryItem[], ref: ManagedObjectReference, kind: string): InventoryItem {
  const item = items.find((i) => i.ref.value === ref.value);
  if (item === undefined) throw new Error(`${kind} ${ref.value} is not in the datacenter's inventory`);
  return item;
}

export async function openVsphereTarget(config: PortLayerConfig): Promise<VsphereTarget> {
  const v = config.vsphere;
  const client = await VimClient.connect({
    url: v.url,
    username: v.username,
    password: v.password,
    ...(v.thumbprint !== undefined ? { thumbprint: v.thumbprint } : {}),
    ...(v.insecure ? { insecure: true } : {}),
  });
  try {
    const inventory = new Inventory(client);
    const pc = new PropertyCollector(client);
    const datacenter = await inventory.datacenter(config.datacenter);
    const poolRef = await resolvePool(inventory, pc, datacenter, config.pool);
    const pool = itemFor(await inventory.list(datacenter, 'resourcePool'), poolRef, 'resource pool');
    const dsRef = await inventory.datastore(datacenter, config.imageDatastore);
    const imageDatastore = itemFor(await inventory.list(datacenter, 'datastore'), dsRef, 'datastore');
    const updates = await updatesFor(client);
    return {
      ctx: { client, updates },
      datacenter,
      dc: { ref: datacenter.ref, path: datacenter.path },
      pool,
      imageDatastore,
      async close() {
        await closeUpdatesFor(client).catch(() => undefined);
        await client.logout().catch(() => undefined);
        await client.close();
      },
    };
  } catch (error) {
    await client.logout().catch(() => undefined);
    await client.close();
    throw error;
  }
}
