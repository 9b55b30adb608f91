/**
 * `docker info` and `docker version` from vSphere: each call reads the endpoint, the pool,
 * its compute resource, the datastore and the networks afresh, since vSphere is the source
 * of truth and an administrator may change limits or add port groups at any time.
 */

import { createHash } from 'node:crypto';
import { Inventory } from '../../vsphere/inventory';
import { PropertyCollector } from '../../vsphere/propertyCollector';
import type { ComputeResourceSummary, DatastoreSummary, ResourceConfigSpec } from '../../vsphere/vim25/generated/types';
import type { ManagedObjectReference } from '../../vsphere/vim25/values';
import type { ContainerService, ImageService, SystemInfo, SystemService, SystemVersion } from '../api';
import type { RegistrySettings } from '../config';
import type { VsphereTarget } from './vsphere-target';

/**
 * What the pool may give containers: its limits where set (-1 or absent means unlimited),
 * otherwise the whole compute resource. CPU limits are MHz; they are shown as whole cores
 * of the compute resource's clock rate, at least one.
 */
export function poolCapacity(
  config: ResourceConfigSpec | undefined,
  summary: ComputeResourceSummary | undefined,
): { cpus: number; memoryBytes: number } {
  const cores = summary?.numCpuCores ?? 0;
  const mhzPerCore = cores > 0 && summary ? summary.totalCpu / cores : 0;
  const cpuLimit = config?.cpuAllocation?.limit;
  const memLimitMb = config?.memoryAllocation?.limit;
  const cpus =
    cpuLimit !== undefined && cpuLimit >= 0 && mhzPerCore > 0
      ? Math.max(1, Math.min(cores, Math.floor(cpuLimit / mhzPerCore)))
      : cores;
  const total = summary?.totalMemory ?? 0;
  const memoryBytes = memLimitMb !== undefined && memLimitMb >= 0 ? Math.min(total, memLimitMb * 2 ** 20) : total;
  return { cpus, memoryBytes };
}

export interface VsphereSystemServiceOptions {
  readonly name: string;
  readonly target: VsphereTarget;
  readonly images: ImageService;
  readonly registry: RegistrySettings;
  readonly version: string;
  readonly kernelVersion: string;
  /** The endpoint URL as configured (shown as the vSphere target). */
  readonly targetUrl: string;
  /** Whether the endpoint has InstantClone_Task (detected once at start). */
  readonly instantClone: boolean;
  /** The execution room, when the VCH runs containers: `docker info` counts them. */
  readonly containers?: ContainerService;
}

export class VsphereSystemService implements SystemService {
  private readonly pc: PropertyCollector;
  private readonly inventory: Inventory;

  constructor(private readonly o: VsphereSystemServiceOptions) {
    this.pc = new PropertyCollector(o.target.ctx.client);
    this.inventory = new Inventory(o.target.ctx.client);
  }

  async info(): Promise<SystemInfo> {
    const { target } = this.o;
    const about = target.ctx.client.serviceContent.about;
    const [pool, ds, networks, images, containers] = await Promise.all([
      this.pc.retrieveOne(target.pool.ref, ['owner', 'config']),
      this.pc.retrieveOne(target.imageDatastore.ref, ['summary']),
      this.inventory.list(target.datacenter, 'network'),
      this.o.images.list(),
      this.o.containers?.list({ all: true }) ?? [],
    ]);
    const owner = pool.props.owner as ManagedObjectReference | undefined;
    const compute = owner ? await this.pc.retrieveOne(owner, ['summary']) : undefined;
    const { cpus, memoryBytes } = poolCapacity(
      pool.props.config as ResourceConfigSpec | undefined,
      compute?.props.summary as ComputeResourceSummary | undefined,
    );
    const dsSummary = ds.props.summary as DatastoreSummary | undefined;
    return {
      name: this.o.name,
      id: vchId(this.o.targetUrl, target.datacenter.path, this.o.name),
      vsphere: {
        target: this.o.targetUrl,
        product: about.fullName,
        resourcePool: target.pool.path,
        imageStore: {
          name: target.imageDatastore.name,
          ...(dsSummary ? { capacity: dsSummary.capacity, free: dsSummary.freeSpace } : {}),
        },
        volumeStores: [],
        networks: networks.map((n) => n.name),
        instantClone: this.o.instantClone,
      },
      containers: {
        running: containers.filter((c) => c.state.running).length,
        paused: 0, // a container VM is never paused
        stopped: containers.filter((c) => !c.state.running).length,
      },
      images: images.length,
      cpus,
      memoryBytes,
      kernelVersion: this.o.kernelVersion,
      operatingSystem: `${about.name} ${about.version} (VCH ${this.o.version})`,
      registries: {
        insecure: this.o.registry.insecureRegistries ?? [],
        mirrors: this.o.registry.mirrors ?? [],
      },
    };
  }

  async version(): Promise<SystemVersion> {
    return { version: this.o.version, gitCommit: '', buildTime: '', kernelVersion: this.o.kernelVersion };
  }
}

/**
 * A stable id for the VCH, the same for every process serving the same VCH (so `docker
 * info`'s ID does not change on restart), shaped like dockerd's (12 groups of 4).
 */
export function vchId(targetUrl: string, datacenterPath: string, name: string): string {
  const hex = createHash('sha256').update(`${targetUrl}\n${datacenterPath}\n${name}`).digest('hex').toUpperCase();
  return (hex.slice(0, 48).match(/.{4}/g) ?? []).join(':');
}
