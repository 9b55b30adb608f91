/**
 * Port groups against vcsim: standard port groups on a host's vSwitch (HostNetworkSystem),
 * distributed switches and port groups, VM NICs on both, and the faults vcsim gives.
 */
import type { VimClient } from '../../src/vsphere/client';
import { DuplicateNameError, InvalidArgumentError, VimFault } from '../../src/vsphere/faults';
import { type Datacenter, Inventory } from '../../src/vsphere/inventory';
import {
  addDistributedPortGroup,
  addStandardPortGroup,
  createDistributedSwitch,
  findDistributedPortGroup,
  listStandardPortGroups,
  removeStandardPortGroup,
} from '../../src/vsphere/network';
import type { VimContext } from '../../src/vsphere/tasks';
import type { VirtualEthernetCardNetworkBackingInfo } from '../../src/vsphere/vim25/generated/types';
import type { ManagedObjectReference } from '../../src/vsphere/vim25/values';
import { addNic, createVM, newVmConfigSpec } from '../../src/vsphere/virtualMachine';
import { startVsphereSession, type VsphereSession } from '../helpers/vsphereSession';

jest.setTimeout(60_000);

let session: VsphereSession;
let client: VimClient;
let ctx: VimContext;
let inventory: Inventory;
let dc: Datacenter;
let host: ManagedObjectReference;

beforeAll(async () => {
  session = await startVsphereSession();
  ({ client, ctx } = session);
  inventory = new Inventory(client);
  dc = await inventory.datacenter();
  // The standalone host: its VMs' NICs are on its own port groups.
  host = await inventory.host(dc, 'DC0_H0/DC0_H0');
});

afterAll(async () => {
  await session?.close();
});

let counter = 0;
const unique = (prefix: string) => `${prefix}-${++counter}`;

async function portGroupNames(): Promise<string[]> {
  return (await listStandardPortGroups(client, host)).map((p) => p.name);
}

describe('standard port groups', () => {
  it('adds a port group on vSwitch0; it shows on the host and as a Network in the datacenter', async () => {
    const name = unique('vch-bridge');
    await addStandardPortGroup(client, host, { name, vswitchName: 'vSwitch0', vlanId: 0 });
    expect(await portGroupNames()).toContain(name);
    const net = await inventory.network(dc, name);
    expect(net.type).toBe('Network');
  });

  it('a NIC joins it by name', async () => {
    const name = unique('vch-net');
    await addStandardPortGroup(client, host, { name, vswitchName: 'vSwitch0' });
    const pool = await inventory.resourcePool(dc, 'DC0_H0/Resources');
    const vm = await createVM(
      ctx,
      { folder: dc.vmFolder, pool, host },
      newVmConfigSpec({ name: unique('nic-vm'), datastore: 'LocalDS_0' }),
    );
    const nic = await addNic(ctx, vm, { kind: 'portGroup', name });
    expect((nic.backing as VirtualEthernetCardNetworkBackingInfo).deviceName).toBe(name);
  });

  it('adding the same port group twice is DuplicateName (ESXi says AlreadyExists)', async () => {
    const name = unique('twice');
    await addStandardPortGroup(client, host, { name, vswitchName: 'vSwitch0' });
    const err = await addStandardPortGroup(client, host, { name, vswitchName: 'vSwitch0' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DuplicateNameError);
    expect((err as DuplicateNameError).duplicateName).toBe(name);
  });

  it('a port group on a vSwitch that does not exist is NotFound', async () => {
    const err = await addStandardPortGroup(client, host, { name: unique('lost'), vswitchName: 'vSwitch9' }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(VimFault);
    expect((err as VimFault).faultName).toBe('NotFound');
  });

  it('a port group without a name is InvalidArgument', async () => {
    const err = await addStandardPortGroup(client, host, { name: '', vswitchName: 'vSwitch0' }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InvalidArgumentError);
  });

  it('removes a port group; removing it again is NotFound', async () => {
    const name = unique('gone');
    await addStandardPortGroup(client, host, { name, vswitchName: 'vSwitch0' });
    await removeStandardPortGroup(client, host, name);
    expect(await portGroupNames()).not.toContain(name);
    const err = await removeStandardPortGroup(client, host, name).catch((e: unknown) => e);
    expect((err as VimFault).faultName).toBe('NotFound');
  });
});

describe('distributed switches and port groups', () => {
  it('creates a switch in the network folder and a port group on it', async () => {
    const dvs = await createDistributedSwitch(ctx, dc.networkFolder, unique('vch-dvs'), [host]);
    expect(dvs.ref.type).toMatch(/DistributedVirtualSwitch$/);
    expect(dvs.uuid).not.toBe('');
    const name = unique('vch-dvpg');
    const pg = await addDistributedPortGroup(ctx, dvs, name);
    expect(pg).toMatchObject({ name, switchUuid: dvs.uuid });
    expect(pg.ref.type).toBe('DistributedVirtualPortgroup');
    expect(await findDistributedPortGroup(client, dvs, name)).toEqual(pg);
    expect((await inventory.network(dc, name)).value).toBe(pg.ref.value);
  });

  it('a second switch of the same name is InvalidArgument in vcsim (vCenter: DuplicateName)', async () => {
    const name = unique('dvs-twice');
    await createDistributedSwitch(ctx, dc.networkFolder, name);
    const err = await createDistributedSwitch(ctx, dc.networkFolder, name).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).invalidProperty).toBe('name');
  });

  it('a second port group of the same name is DuplicateName', async () => {
    const dvs = await createDistributedSwitch(ctx, dc.networkFolder, unique('dvs'));
    const name = unique('pg-twice');
    await addDistributedPortGroup(ctx, dvs, name);
    await expect(addDistributedPortGroup(ctx, dvs, name)).rejects.toBeInstanceOf(DuplicateNameError);
  });

  it('a NIC on a switch its host is not a member of is InvalidArgument', async () => {
    // vcsim ignores DVSConfigSpec.host at creation (members join through ReconfigureDvs_Task),
    // so the new switch has no members and the NIC is refused, as vCenter refuses it too.
    const dvs = await createDistributedSwitch(ctx, dc.networkFolder, unique('lonely-dvs'));
    const pg = await addDistributedPortGroup(ctx, dvs, unique('lonely-pg'));
    const pool = await inventory.resourcePool(dc, 'DC0_H0/Resources');
    const vm = await createVM(
      ctx,
      { folder: dc.vmFolder, pool, host },
      newVmConfigSpec({ name: unique('dv-vm'), datastore: 'LocalDS_0' }),
    );
    const err = await addNic(ctx, vm, { kind: 'dvPortGroup', switchUuid: dvs.uuid, portgroupKey: pg.key }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).invalidProperty).toBe('spec.deviceChange.device.port.switchUuid');
  });
});
