/**
 * Inventory by path against vcsim's default model (DC0: cluster DC0_C0 with 3 hosts,
 * standalone host DC0_H0, datastore LocalDS_0, networks VM Network / DVS0 / DC0_DVPG0) and
 * a two-datacenter model for the "say which one" errors.
 */
import type { VimClient } from '../../src/vsphere/client';
import { Inventory, InventoryAmbiguousError, InventoryNotFoundError } from '../../src/vsphere/inventory';
import { startVsphereSession, type VsphereSession } from '../helpers/vsphereSession';

jest.setTimeout(60_000);

let session: VsphereSession;
let client: VimClient;
let inventory: Inventory;

beforeAll(async () => {
  session = await startVsphereSession({ simulator: { datacenters: 2 }, updates: false });
  ({ client } = session);
  inventory = new Inventory(client);
});

afterAll(async () => {
  await session?.close();
});

describe('datacenters', () => {
  it('lists every datacenter with its path', async () => {
    const dcs = await inventory.listDatacenters();
    expect(dcs.map((d) => d.path)).toEqual(['/DC0', '/DC1']);
  });

  it('finds one by path or by name, with its folders', async () => {
    const byPath = await inventory.datacenter('/DC1');
    const byName = await inventory.datacenter('DC1');
    expect(byName.ref).toEqual(byPath.ref);
    expect(byPath).toMatchObject({ name: 'DC1', path: '/DC1' });
    expect(byPath.vmFolder.type).toBe('Folder');
    expect(byPath.hostFolder.type).toBe('Folder');
    expect(byPath.datastoreFolder.type).toBe('Folder');
    expect(byPath.networkFolder.type).toBe('Folder');
  });

  it('with two datacenters and no path, says which exist', async () => {
    const err = await inventory.datacenter().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InventoryAmbiguousError);
    expect((err as Error).message).toContain('/DC0');
    expect((err as Error).message).toContain('/DC1');
  });

  it('an unknown datacenter lists the ones there are', async () => {
    const err = await inventory.datacenter('/DC9').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InventoryNotFoundError);
    expect((err as InventoryNotFoundError).candidates).toEqual(['/DC0', '/DC1']);
    expect((err as Error).message).toMatch(/datacenter not found: \/DC9; existing datacenters: \/DC0, \/DC1/);
  });
});

describe('inside a datacenter', () => {
  it('finds cluster, hosts, pools, datastore, networks and folders by path and by relative name', async () => {
    const dc = await inventory.datacenter('DC0');
    const cluster = await inventory.cluster(dc, 'DC0_C0');
    expect(cluster.type).toBe('ClusterComputeResource');
    expect(await inventory.cluster(dc, '/DC0/host/DC0_C0')).toEqual(cluster);
    expect(await inventory.cluster(dc)).toEqual(cluster); // the only cluster

    expect((await inventory.host(dc, 'DC0_C0/DC0_C0_H0')).type).toBe('HostSystem');
    expect((await inventory.host(dc, 'DC0_H0/DC0_H0')).type).toBe('HostSystem');

    const pool = await inventory.resourcePool(dc, 'DC0_C0/Resources');
    expect(pool.type).toBe('ResourcePool');
    expect(await inventory.resourcePool(dc, '/DC0/host/DC0_C0/Resources')).toEqual(pool);

    const ds = await inventory.datastore(dc);
    expect(ds.type).toBe('Datastore');
    expect(await inventory.datastore(dc, 'LocalDS_0')).toEqual(ds);
    expect(await inventory.datastore(dc, '/DC0/datastore/LocalDS_0')).toEqual(ds);

    expect((await inventory.network(dc, 'VM Network')).type).toBe('Network');
    expect((await inventory.network(dc, 'DC0_DVPG0')).type).toBe('DistributedVirtualPortgroup');

    expect(await inventory.folder(dc)).toEqual(dc.vmFolder);
    expect(await inventory.folder(dc, '/DC0/vm')).toEqual(dc.vmFolder);
  });

  it('finds a folder made inside the vm folder', async () => {
    const dc = await inventory.datacenter('DC0');
    const made = await client.invoke('CreateFolder', dc.vmFolder, { name: 'containers' });
    expect(await inventory.folder(dc, 'containers')).toEqual(made);
    const folders = await inventory.list(dc, 'folder');
    expect(folders.map((f) => f.path)).toEqual(['/DC0/vm', '/DC0/vm/containers']);
    const err = await client.invoke('CreateFolder', dc.vmFolder, { name: 'containers' }).catch((e: unknown) => e);
    expect((err as Error).name).toBe('DuplicateNameError');
  });

  it('with several pools and no path, names the root pools to choose from', async () => {
    const dc = await inventory.datacenter('DC0');
    const err = await inventory.resourcePool(dc).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InventoryAmbiguousError);
    expect((err as InventoryAmbiguousError).candidates).toEqual([
      '/DC0/host/DC0_C0/Resources',
      '/DC0/host/DC0_H0/Resources',
    ]);
  });

  it('a mistyped datastore lists the datastores there are', async () => {
    const dc = await inventory.datacenter('DC0');
    const err = await inventory.datastore(dc, 'LocalDS_9').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InventoryNotFoundError);
    expect((err as Error).message).toBe(
      'datastore not found: LocalDS_9; existing datastores: /DC0/datastore/LocalDS_0',
    );
  });

  it('a path to the wrong kind of object says what it is', async () => {
    const dc = await inventory.datacenter('DC0');
    const err = await inventory.datastore(dc, '/DC0/network/VM Network').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InventoryNotFoundError);
    expect((err as Error).message).toContain('(that is a Network)');
  });

  it('lists hosts and networks with their paths', async () => {
    const dc = await inventory.datacenter('DC0');
    const hosts = (await inventory.list(dc, 'host')).map((h) => h.path);
    expect(hosts).toEqual([
      '/DC0/host/DC0_C0/DC0_C0_H0',
      '/DC0/host/DC0_C0/DC0_C0_H1',
      '/DC0/host/DC0_C0/DC0_C0_H2',
      '/DC0/host/DC0_H0/DC0_H0',
    ]);
    const err = await inventory.host(dc).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InventoryAmbiguousError);
    const networks = (await inventory.list(dc, 'network')).map((n) => n.name);
    expect(networks).toEqual(expect.arrayContaining(['VM Network', 'DC0_DVPG0']));
  });

  it('findByPath answers undefined for nothing there', async () => {
    expect(await inventory.findByPath('/DC0/vm/nope')).toBeUndefined();
  });
});
