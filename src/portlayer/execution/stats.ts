/**
 * `docker stats` from vSphere: the VM's `summary.quickStats` (CPU in MHz, memory in MB)
 * and its size (`config.hardware`), read through the property collector. Docker wants
 * cumulative CPU counters; vSphere gives a rate, so the counter integrates the rate over
 * the time between samples (per container, reset when the container starts again).
 */
import { PropertyCollector } from '../../vsphere/propertyCollector';
import type { ContainerStatsSample } from '../api';
import type { VchPlacement } from './placement';
import type { CachedContainer } from './state';

const MB = 1024 * 1024;

interface QuickStats {
  readonly overallCpuUsage?: number;
  readonly guestMemoryUsage?: number;
  readonly hostMemoryUsage?: number;
  readonly uptimeSeconds?: number;
}

/** The vSphere numbers a sample is made of. */
export interface VmUsage {
  readonly numCpu: number;
  readonly memoryMB: number;
  /** MHz used now, and the most the VM may use (numCpu × core MHz); 0 when unknown. */
  readonly cpuMhz: number;
  readonly maxCpuMhz: number;
  readonly guestMemoryMB: number;
  readonly hostMemoryMB: number;
  readonly uptimeSeconds: number;
}

const PATHS = [
  'summary.quickStats',
  'runtime.maxCpuUsage',
  'config.hardware.numCPU',
  'config.hardware.memoryMB',
] as const;

export async function readVmUsage(p: VchPlacement, c: CachedContainer): Promise<VmUsage> {
  const { props } = await new PropertyCollector(p.ctx.client).retrieveOne(c.vm, PATHS);
  const q = (props['summary.quickStats'] ?? {}) as QuickStats;
  const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : Number(v ?? 0) || 0);
  return {
    numCpu: Math.max(1, num(props['config.hardware.numCPU'])),
    memoryMB: num(props['config.hardware.memoryMB']),
    cpuMhz: num(q.overallCpuUsage),
    maxCpuMhz: num(props['runtime.maxCpuUsage']),
    guestMemoryMB: num(q.guestMemoryUsage),
    hostMemoryMB: num(q.hostMemoryUsage),
    uptimeSeconds: num(q.uptimeSeconds),
  };
}

interface Counter {
  readonly startedAt: number;
  at: number;
  cpuNs: number;
}

/** Turns usage readings into Docker's cumulative samples; one per lifecycle. */
export class StatsSampler {
  private readonly counters = new Map<string, Counter>();

  constructor(private readonly p: VchPlacement) {}

  async sample(c: CachedContainer): Promise<ContainerStatsSample> {
    const now = new Date();
    if (!c.state.running) {
      this.counters.delete(c.id);
      const limit = c.record?.config ? await this.limitOf(c) : 0;
      return zeroSample(now, limit);
    }
    return this.fromUsage(c, await readVmUsage(this.p, c), now);
  }

  forget(id: string): void {
    this.counters.delete(id);
  }

  fromUsage(c: CachedContainer, u: VmUsage, now: Date): ContainerStatsSample {
    // Fraction of the VM's CPUs in use; Docker counts 100 % per CPU, so the container's
    // time grows at fraction × numCpu per wall second, the system's at numCpu.
    const fraction = u.maxCpuMhz > 0 ? Math.min(1, u.cpuMhz / u.maxCpuMhz) : 0;
    const startedAt = c.state.startedAt?.getTime() ?? now.getTime() - u.uptimeSeconds * 1000;
    let counter = this.counters.get(c.id);
    if (!counter || counter.startedAt !== startedAt) {
      const ranMs = Math.max(0, now.getTime() - startedAt);
      counter = { startedAt, at: now.getTime(), cpuNs: ranMs * 1e6 * fraction * u.numCpu };
      this.counters.set(c.id, counter);
    } else {
      const dtNs = Math.max(0, now.getTime() - counter.at) * 1e6;
      counter.cpuNs += dtNs * fraction * u.numCpu;
      counter.at = now.getTime();
    }
    const uptimeMs = u.uptimeSeconds > 0 ? u.uptimeSeconds * 1000 : Math.max(0, now.getTime() - startedAt);
    const memoryMB = u.guestMemoryMB > 0 ? u.guestMemoryMB : u.hostMemoryMB;
    return {
      read: now,
      cpuTotalNs: Math.round(counter.cpuNs),
      systemCpuNs: Math.round(uptimeMs * 1e6 * u.numCpu),
      onlineCpus: u.numCpu,
      memoryUsageBytes: memoryMB * MB,
      memoryLimitBytes: u.memoryMB * MB,
      // vSphere does not count the guest's processes; a running container has its main one.
      pids: 1,
    };
  }

  private async limitOf(c: CachedContainer): Promise<number> {
    const { props } = await new PropertyCollector(this.p.ctx.client)
      .retrieveOne(c.vm, ['config.hardware.memoryMB'])
      .catch(() => ({ props: {} as Record<string, unknown> }));
    return Number(props['config.hardware.memoryMB'] ?? 0) * MB || 0;
  }
}

function zeroSample(read: Date, memoryLimitBytes: number): ContainerStatsSample {
  return {
    read,
    cpuTotalNs: 0,
    systemCpuNs: 0,
    onlineCpus: 0,
    memoryUsageBytes: 0,
    memoryLimitBytes,
    pids: 0,
  };
}
