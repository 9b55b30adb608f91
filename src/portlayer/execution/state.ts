/**
 * The container cache: every container VM of the VCH (VMs in its folder carrying
 * `guestinfo.vch.id`) with its state, kept current by ONE watch of the folder's VMs
 * (UpdatesLoop.watchView). vSphere is the source of truth: the cache is filled from the
 * view when the VCH starts, so a restarted VCH finds every container again.
 */
import type { Unsubscribe, UpdatesLoop } from '../../vsphere/updates';
import type { OptionValue } from '../../vsphere/vim25/generated/types';
import type { ManagedObjectReference, VimAny } from '../../vsphere/vim25/values';
import { fromOptionValues } from '../../vsphere/virtualMachine';
import type { ContainerConfig, ContainerResources, ContainerState } from '../api';
import { KEY_RESTART, parseRestartState, type RestartState } from './restart-policy';
import { KEY_ID, KEY_RECORD, KEY_STATUS, parseVmStatus, statusTime, type VmStatus } from './spec';

/** What the VCH writes about a container for itself (`guestinfo.vch.record`). */
export interface ContainerRecord {
  readonly name: string;
  readonly created: string;
  readonly config: ContainerConfig;
  /** `docker run --rm`: the VCH removes the container once its process has exited. */
  readonly autoRemove?: boolean;
  /** `--cpus` / `--memory` as given (inspect shows them so); the VM's size is derived from them (sizes.ts). */
  readonly resources?: ContainerResources;
  /** The tty's size a run starts with, until a resize. */
  readonly consoleSize?: { readonly rows: number; readonly cols: number };
}

export interface CachedContainer {
  readonly id: string;
  readonly name: string;
  readonly vm: ManagedObjectReference;
  readonly vmName: string;
  readonly record: ContainerRecord | undefined;
  readonly powerState: string;
  readonly status: VmStatus | undefined;
  readonly state: ContainerState;
  readonly restart: RestartState;
}

const PATHS = ['name', 'config.extraConfig', 'runtime.powerState'] as const;

function parseRecord(text: string | undefined): ContainerRecord | undefined {
  if (!text) return undefined;
  try {
    const v = JSON.parse(text) as ContainerRecord;
    return typeof v.name === 'string' && typeof v.config === 'object' ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Docker's state from the tether's status and the VM's power: a VM that is off while its
 * status still says running was powered off under the process (a kill): 137, as Docker.
 */
export function deriveState(status: VmStatus | undefined, powerState: string): ContainerState {
  const base = { pid: 0, exitCode: 0, error: '' };
  if (status?.state === 'exited') {
    const finishedAt = statusTime(status.finishedAt);
    const startedAt = statusTime(status.startedAt);
    return {
      ...base,
      status: 'exited',
      running: false,
      exitCode: status.exitCode,
      error: status.error ?? '',
      ...(startedAt ? { startedAt } : {}),
      ...(finishedAt ? { finishedAt } : {}),
    };
  }
  if (status?.state === 'running') {
    const startedAt = statusTime(status.startedAt);
    if (powerState === 'poweredOff')
      return { ...base, status: 'exited', running: false, exitCode: 137, ...(startedAt ? { startedAt } : {}) };
    return { ...base, status: 'running', running: true, pid: status.pid ?? 0, ...(startedAt ? { startedAt } : {}) };
  }
  return { ...base, status: 'created', running: false };
}

export type ContainerEvent = { readonly kind: 'changed' | 'removed'; readonly container: CachedContainer };

export class ContainerCache {
  private readonly byVm = new Map<string, CachedContainer>();
  /**
   * Runs the VCH saw start itself (the tether's answer on the backchannel), by VM, until the
   * VM's status catches up: `start` answers once the process runs rather than ~0.1 s later,
   * when the guest's status has come through guestinfo and the property collector, and an
   * `inspect` right after it still shows the container running.
   */
  private readonly seenRunning = new Map<string, VmStatus>();
  private readonly listeners = new Set<(e: ContainerEvent) => void>();
  private stop: Unsubscribe | undefined;

  /** Starts the watch; resolves once the cache holds every container VM there is. */
  static async open(updates: UpdatesLoop, folder: ManagedObjectReference): Promise<ContainerCache> {
    const cache = new ContainerCache();
    cache.stop = await updates.watchView(folder, 'VirtualMachine', PATHS, (u) => {
      if (u.kind === 'leave') cache.remove(u.obj);
      else cache.update(u.obj, u.values);
    });
    return cache;
  }

  all(): CachedContainer[] {
    return [...this.byVm.values()];
  }

  byId(id: string): CachedContainer | undefined {
    return this.all().find((c) => c.id === id);
  }

  /** Called on every change (state, power, a container appearing or going). */
  subscribe(listener: (e: ContainerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves with the first state of `id` that `pred` accepts (now or later); rejects if it goes. */
  until(id: string, pred: (c: CachedContainer) => boolean, timeoutMs?: number): Promise<CachedContainer> {
    return new Promise((resolve, reject) => {
      const now = this.byId(id);
      if (now && pred(now)) {
        resolve(now);
        return;
      }
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              off();
              reject(new Error(`container ${id}: state not reached within ${timeoutMs} ms`));
            }, timeoutMs);
      const off = this.subscribe((e) => {
        if (e.container.id !== id) return;
        if (e.kind === 'removed') {
          off();
          if (timer) clearTimeout(timer);
          reject(new Error(`container ${id} was removed`));
        } else if (pred(e.container)) {
          off();
          if (timer) clearTimeout(timer);
          resolve(e.container);
        }
      });
    });
  }

  /**
   * The process of `id` runs (its tether said so on the backchannel): the cache shows it
   * running while the VM's status still says `created`. Ignored when the status is past
   * that (it is newer than what we saw) or has none (a cold boot reset it: another run).
   * The start time is the VCH's until the tether's own arrives with its status.
   */
  noteRunning(id: string, pid: number): void {
    const c = this.byId(id);
    if (c?.status?.state !== 'created') return;
    const status: VmStatus = { state: 'running', pid, startedAt: new Date().toISOString() };
    this.seenRunning.set(c.vm.value, status);
    this.set({ ...c, status, state: deriveState(status, c.powerState) });
  }

  async close(): Promise<void> {
    await this.stop?.();
    this.listeners.clear();
  }

  private update(vm: ManagedObjectReference, values: Readonly<Record<string, VimAny | undefined>>): void {
    const ec = fromOptionValues(values['config.extraConfig'] as OptionValue[] | undefined);
    const id = ec[KEY_ID];
    if (!id) return; // the template, or a VM that is not a container
    const record = parseRecord(ec[KEY_RECORD]);
    let status = parseVmStatus(ec[KEY_STATUS]);
    const seen = this.seenRunning.get(vm.value);
    if (seen && status?.state === 'created') status = seen;
    else this.seenRunning.delete(vm.value);
    const powerState = String(values['runtime.powerState'] ?? 'poweredOff');
    const container: CachedContainer = {
      id,
      name: record?.name ?? id.slice(0, 12),
      vm,
      vmName: String(values.name ?? ''),
      record,
      powerState,
      status,
      state: deriveState(status, powerState),
      restart: parseRestartState(ec[KEY_RESTART]),
    };
    this.set(container);
  }

  private set(container: CachedContainer): void {
    this.byVm.set(container.vm.value, container);
    this.emit({ kind: 'changed', container });
  }

  private remove(vm: ManagedObjectReference): void {
    const container = this.byVm.get(vm.value);
    this.seenRunning.delete(vm.value);
    if (!container) return;
    this.byVm.delete(vm.value);
    this.emit({ kind: 'removed', container });
  }

  private emit(e: ContainerEvent): void {
    for (const l of [...this.listeners]) l(e);
  }
}
