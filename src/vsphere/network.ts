/**
 * Port groups for container networks: standard port groups on a host's vSwitch (through
 * the host's HostNetworkSystem), and distributed switches / port groups in a datacenter's
 * network folder. A NIC then joins one by name (standard) or by switch UUID + port group key
 * (distributed): see deviceSpecs.NicBacking.
 */
import type { VimClient } from './client';
import { PropertyCollector } from './propertyCollector';
import { runTask, type VimContext, type WaitForTaskOptions } from './tasks';
import type {
  DistributedVirtualSwitchHostMemberConfigSpec,
  HostNetworkInfo,
  HostPortGroupSpec,
} from './vim25/generated/types';
import type { ManagedObjectReference } from './vim25/values';

/** The HostNetworkSystem of a host (configManager.networkSystem). */
export async function hostNetworkSystem(
  client: VimClient,
  host: ManagedObjectReference,
): Promise<ManagedObjectReference> {
  const { props } = await new PropertyCollector(client).retrieveOne(host, ['configManager.networkSystem']);
  const ref = props['configManager.networkSystem'] as ManagedObjectReference | undefined;
  if (!ref) throw new Error(`host ${host.value} has no network system`);
  return ref;
}

export interface StandardPortGroupOptions {
  readonly name: string;
  /** The vSwitch the port group hangs off, e.g. vSwitch0. */
  readonly vswitchName: string;
  readonly vlanId?: number;
}

/** HostNetworkSystem.AddPortGroup; DuplicateName (vcsim) / AlreadyExists (ESXi) when it exists. */
export async function addStandardPortGroup(
  client: VimClient,
  host: ManagedObjectReference,
  o: StandardPortGroupOptions,
): Promise<void> {
  const portgrp: HostPortGroupSpec = {
    name: o.name,
    vlanId: o.vlanId ?? 0,
    vswitchName: o.vswitchName,
    // An empty policy inherits the vSwitch's.
    policy: {},
  };
  await client.invoke('AddPortGroup', await hostNetworkSystem(client, host), { portgrp });
}

/** The host's standard port groups, as its HostNetworkSystem lists them (networkInfo.portgroup). */
export async function listStandardPortGroups(
  client: VimClient,
  host: ManagedObjectReference,
): Promise<HostPortGroupSpec[]> {
  const system = await hostNetworkSystem(client, host);
  const { props } = await new PropertyCollector(client).retrieveOne(system, ['networkInfo']);
  return ((props.networkInfo as HostNetworkInfo | undefined)?.portgroup ?? []).map((p) => p.spec);
}

/** HostNetworkSystem.RemovePortGroup; NotFound when there is no such port group. */
export async function removeStandardPortGroup(
  client: VimClient,
  host: ManagedObjectReference,
  name: string,
): Promise<void> {
  await client.invoke('RemovePortGroup', await hostNetworkSystem(client, host), { pgName: name });
}

export interface DistributedSwitch {
  readonly ref: ManagedObjectReference;
  readonly uuid: string;
}

/**
 * CreateDVS_Task in a network folder, with `hosts` as members (a NIC on one of its port
 * groups only works on a member host).
 */
export async function createDistributedSwitch(
  ctx: VimContext,
  networkFolder: ManagedObjectReference,
  name: string,
  hosts: readonly ManagedObjectReference[] = [],
  options?: WaitForTaskOptions,
): Promise<DistributedSwitch> {
  const host: DistributedVirtualSwitchHostMemberConfigSpec[] = hosts.map((h) => ({ operation: 'add', host: h }));
  const ref = await runTask<ManagedObjectReference>(
    ctx,
    () =>
      ctx.client.invoke('CreateDVS_Task', networkFolder, {
        spec: { configSpec: { _type: 'VMwareDVSConfigSpec', name, ...(host.length ? { host } : {}) } },
      }),
    options,
  );
  const { props } = await new PropertyCollector(ctx.client).retrieveOne(ref, ['uuid']);
  return { ref, uuid: String(props.uuid) };
}

export interface DistributedPortGroup {
  readonly ref: ManagedObjectReference;
  readonly key: string;
  readonly name: string;
  readonly switchUuid: string;
}

/** AddDVPortgroup_Task (early binding); resolves with the new port group's key for NIC backings. */
export async function addDistributedPortGroup(
  ctx: VimContext,
  dvs: DistributedSwitch,
  name: string,
  o: { numPorts?: number; options?: WaitForTaskOptions } = {},
): Promise<DistributedPortGroup> {
  await runTask(
    ctx,
    () =>
      ctx.client.invoke('AddDVPortgroup_Task', dvs.ref, {
        spec: [{ name, type: 'earlyBinding', numPorts: o.numPorts ?? 128 }],
      }),
    o.options,
  );
  const found = await findDistributedPortGroup(ctx.client, dvs, name);
  if (!found) throw new Error(`port group ${name} was added to ${dvs.ref.value} but is not listed on it`);
  return found;
}

/** A distributed port group of `dvs` by name. */
export async function findDistributedPortGroup(
  client: VimClient,
  dvs: DistributedSwitch,
  name: string,
): Promise<DistributedPortGroup | undefined> {
  const pc = new PropertyCollector(client);
  const { props } = await pc.retrieveOne(dvs.ref, ['portgroup']);
  const refs = (props.portgroup as ManagedObjectReference[] | undefined) ?? [];
  const groups = await pc.retrieve(refs, 'DistributedVirtualPortgroup', ['name', 'key']);
  const match = groups.find((g) => g.props.name === name);
  if (!match) return undefined;
  return { ref: match.obj, key: String(match.props.key), name, switchUuid: dvs.uuid };
}
