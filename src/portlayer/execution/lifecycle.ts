/**
 * Container lifecycle on vSphere (docs/container-vm.md): create = instant clone of the
 * template + hot-added disks, start = the VCH's attach to the main process, stop / kill /
 * remove through the session and the VM's power, state from the VMs' guestinfo through the
 * one watch of the ContainerCache.
 */
import { randomBytes } from 'node:crypto';
import { serialUriRetargetSpec } from '../../vsphere/deviceSpecs';
import { faultTypeOf, isFault } from '../../vsphere/faults';
import type { ManagedObjectReference } from '../../vsphere/vim25/values';
import {
  changeDevices,
  destroyVM,
  instantClone,
  powerOff,
  powerOn,
  readDevices,
  reconfigure,
  setExtraConfig,
  toOptionValues,
} from '../../vsphere/virtualMachine';
import {
  ConflictError,
  type ContainerAttachment,
  type ContainerCreateResult,
  type ContainerCreateSpec,
  type ContainerDetails,
  type ContainerExecOptions,
  type ContainerLifecycleEvent,
  type ContainerListOptions,
  type ContainerLogOptions,
  type ContainerLogs,
  type ContainerResources,
  type ContainerService,
  type ContainerStatsSample,
  type ContainerStdio,
  type ContainerStopOptions,
  type ContainerSummary,
  type ContainerTop,
  type ContainerUpdate,
  type ContainerWaitResult,
  SystemError,
  type WaitCondition,
} from '../api';
import { SessionStartError } from '../interaction/session';
import type { ImageDatastore } from '../storage/images/image-datastore';
import { commandLine, mergeConfig, processOf } from './config';
import { layerDetachChanges, planContainerDisks, type ScratchDisk } from './disks';
import type { ContainerImages } from './images';
import { ContainerLogStore, vmHomeFolder } from './log-store';
import { readContainerLogs } from './logs';
import { MainSession } from './main-session';
import { nameConflict, newContainerId, normalizeName, randomName, resolveContainer, vmName } from './names';
import type { VchPlacement } from './placement';
import { renameContainer } from './rename';
import { formatRestartState, KEY_RESTART, NO_RESTART, type RestartState } from './restart-policy';
import { RestartKeeper } from './restarts';
import { RunTracker } from './runs';
import { resourcesOf, type VmSize, vmSizeOf } from './sizes';
import { type ContainerVmSpec, KEY_CLOCK, KEY_ID, KEY_RECORD, KEY_ROLE, KEY_SEED, KEY_SPEC, KEY_STATUS } from './spec';
import type { CachedContainer, ContainerCache, ContainerRecord } from './state';
import { StatsSampler } from './stats';
import type { Template } from './template';
import type { Templates } from './templates';
import type { Tethers } from './tethers';
import { topOf } from './top';

export interface LifecycleOptions {
  readonly placement: VchPlacement;
  /** The frozen templates, one per VM size: a container is a clone of its size's. */
  readonly templates: Templates;
  readonly scratch: ScratchDisk;
  readonly images: ContainerImages;
  readonly cache: ContainerCache;
  readonly tethers: Tethers;
  /** The datastore the container VMs live on (placement.datastore): their output files go beside them. */
  readonly files: ImageDatastore;
  /** From clone to `created` (the tether mounting its disks): generous under TCG. */
  readonly createTimeoutMs?: number;
  readonly log?: (msg: string) => void;
}

const DEFAULT_STOP_TIMEOUT_S = 10;
/** From the session's Exit to the VM's status `exited` (a guestinfo set: well under a second). */
const EXIT_RECORD_TIMEOUT_MS = 10_000;

export class ContainerLifecycle implements ContainerService {
  private readonly sessions = new Map<string, MainSession>();
  /** Each container's output files on the datastore, shared by its runs' sessions. */
  private readonly logStores = new Map<string, ContainerLogStore>();
  /** Names being created right now: a second create of the same name must fail, not race. */
  private readonly reserved = new Map<string, string>();
  private readonly p: VchPlacement;
  /** Auto-remove containers whose removal has begun (each exit event must start one only). */
  private readonly autoRemoving = new Set<string>();
  private readonly sampler: StatsSampler;
  private readonly runs: RunTracker;
  private readonly restarts: RestartKeeper;

  constructor(private readonly o: LifecycleOptions) {
    this.p = o.placement;
    this.sampler = new StatsSampler(o.placement);
    this.runs = new RunTracker(o.cache, (c) => this.details(c));
    this.restarts = new RestartKeeper({
      cache: o.cache,
      save: (c, state) => this.saveRestartState(c, state),
      run: (id) => this.run(this.find(id)),
      ...(o.log ? { log: o.log } : {}),
    });
    o.cache.subscribe((e) => {
      const c = e.container;
      if (e.kind === 'removed') {
        this.sampler.forget(c.id);
        this.restarts.cancel(c.id);
        this.logStores.delete(c.id);
      }
      if (e.kind === 'changed' && c.record?.autoRemove && c.status?.state === 'exited') this.autoRemove(c.id);
    });
    this.runs.onExit((c, exitCode) => {
      this.sessions.get(c.id)?.exitedInVm(exitCode);
      this.restarts.exited(c, exitCode);
    });
    this.restarts.resume();
    // A restarted VCH takes up the output of what still runs (for its logs) without waiting
    // for a client to attach; the tether kept what came meanwhile in its pipes.
    for (const c of o.cache.all()) {
      if (!c.state.running) continue;
      this.session(c)
        .open()
        .catch((err: Error) => o.log?.(`reattach ${c.id.slice(0, 12)}: ${err.message}`));
    }
  }

  subscribe(listener: (event: ContainerLifecycleEvent) => void): () => void {
    return this.runs.subscribe(listener);
  }

  /** The VCH is going: no restart begins after this, and output received so far is written. */
  async close(): Promise<void> {
    this.restarts.close();
    // No session may go on reconnecting for a VCH that is gone; the processes run on.
    for (const s of this.sessions.values()) s.close();
    await Promise.all([...this.logStores.values()].map((s) => s.flush()));
  }

  async create(spec: ContainerCreateSpec): Promise<ContainerCreateResult> {
    // Before the image, as dockerd checks the host config first: a bad size is a 400 at once.
    const { size, warnings } = vmSizeOf(spec.resources);
    const image = await this.o.images.resolve(spec.image);
    const id = newContainerId();
    const name = spec.name ? normalizeName(spec.name) : randomName((n) => this.nameTaken(n) !== undefined);
    const holder = this.nameTaken(name);
    if (holder) throw nameConflict(name, holder);
    this.reserved.set(name, id);
    try {
      const config = mergeConfig(spec, image.config, image.id, id);
      const process = processOf(config);
      // A size no template has yet makes one here (a cold boot, once per size).
      const template = await this.o.templates.forSize(size);
      const plan = planContainerDisks(
        template.devices,
        image.layers.map((l) => l.disk),
        this.o.scratch,
        `[${this.p.datastore}] ${vmName(name, id)}/${vmName(name, id)}-rw.vmdk`,
      );
      const vmSpec: ContainerVmSpec = {
        id,
        name,
        hostname: config.hostname,
        ...(config.domainname ? { domainname: config.domainname } : {}),
        process,
        openStdin: config.openStdin,
        stdinOnce: config.stdinOnce,
        layers: image.layers.map((l, i) => ({ unit: plan.layerUnits[i]!, diffId: l.diffId })),
        rwDisk: { unit: plan.rwUnit },
        ...(spec.extraHosts ? { hosts: spec.extraHosts.map(hostsLine) } : {}),
        ...(spec.dns ? { dns: [...spec.dns] } : {}),
        ...(config.stopSignal ? { stopSignal: config.stopSignal } : {}),
      };
      const record: ContainerRecord = {
        name,
        created: new Date().toISOString(),
        config,
        ...(spec.autoRemove ? { autoRemove: true } : {}),
        ...(spec.resources ? { resources: spec.resources } : {}),
        ...(spec.consoleSize && spec.tty ? { consoleSize: spec.consoleSize } : {}),
      };
      const t0 = Date.now();
      const cloneOf = (source: Template) =>
        instantClone(this.p.ctx, source.vm, {
          name: vmName(name, id),
          folder: this.p.folder,
          pool: this.p.pool,
          extraConfig: {
            [KEY_ROLE]: 'container',
            [KEY_ID]: id,
            [KEY_SPEC]: JSON.stringify(vmSpec),
            [KEY_SEED]: randomBytes(32).toString('hex'),
            [KEY_CLOCK]: String(Date.now()),
            [KEY_RECORD]: JSON.stringify(record),
            ...(spec.restartPolicy && spec.restartPolicy.name !== 'no'
              ? { [KEY_RESTART]: formatRestartState({ ...NO_RESTART, policy: spec.restartPolicy }) }
              : {}),
          },
        });
      const vm = await cloneOf(template).catch(async (error: unknown) => {
        // An administrator deleted the template: its size's next one (same devices) is made again.
        if (!isFault(error, 'ManagedObjectNotFound')) throw error;
        this.o.templates.forget(template);
        return cloneOf(await this.o.templates.forSize(size));
      });
      const cloned = Date.now();
      try {
        // Hot-add: the clone is running; the tether waits for the units its spec lists.
        await reconfigure(this.p.ctx, vm, {
          deviceChange: plan.changes,
          annotation: `container ${name} (${id.slice(0, 12)})\nimage: ${spec.image}\ncommand: ${commandLine(process.argv)}`,
        });
        await this.o.cache.until(
          id,
          (c) => c.status?.state === 'created' || c.powerState === 'poweredOff',
          this.o.createTimeoutMs ?? 120_000,
        );
        const now = Date.now();
        this.o.log?.(
          `created ${id.slice(0, 12)} from ${template.name} in ${now - t0} ms (clone ${cloned - t0} ms, then disks and root)`,
        );
      } catch (error) {
        await this.destroy(vm).catch(() => undefined);
        throw error;
      }
      return { id, warnings };
    } finally {
      this.reserved.delete(name);
    }
  }

  /** A user's start: the restart policy counts from zero again and is no longer held by a stop. */
  async start(ref: string): Promise<void> {
    const c = this.find(ref);
    if (c.state.running) return; // Docker: starting a running container is a no-op
    this.restarts.cancel(c.id);
    if (c.restart.count > 0 || c.restart.manuallyStopped) {
      await this.saveRestartState(c, { ...c.restart, count: 0, manuallyStopped: false });
    }
    await this.run(c);
  }

  /** Starts a run of `c` (cold-booting its VM when it ran before); resolves once the process runs. */
  private run(c: CachedContainer): Promise<void> {
    const started = this.startRun(c);
    this.runs.begin(c, started);
    return started;
  }

  private async startRun(from: CachedContainer): Promise<void> {
    let c = from;
    if (c.powerState === 'poweredOff' || c.status?.state === 'exited') {
      c = await this.coldBoot(c);
    }
    const session = this.session(c);
    try {
      await session.open();
    } catch (error) {
      if (error instanceof SessionStartError) {
        // The tether reports the failed start in the VM's status too (127 + error): once it
        // is recorded, `wait` and `inspect` tell the same exit as this error.
        await this.exitRecorded(c.id);
        throw new SystemError(`failed to start container ${c.id.slice(0, 12)}: ${error.message}`);
      }
      throw error;
    }
    // The tether answers the attach once the process runs: the cache need not wait for the status.
    if (session.pid !== undefined) this.o.cache.noteRunning(c.id, session.pid);
    await this.o.cache.until(c.id, (x) => x.status?.state === 'running' || x.status?.state === 'exited', 60_000);
  }

  async attach(
    ref: string,
    stdio: ContainerStdio,
    size?: { readonly rows: number; readonly cols: number },
  ): Promise<ContainerAttachment> {
    const c = this.find(ref);
    if (c.state.status === 'exited' && !c.state.running && !this.sessions.get(c.id)?.fresh) {
      // An exited container's attach is to its next run (`docker start -a` attaches, then
      // starts), as Docker's API does: the last run's session is done with.
      this.sessions.get(c.id)?.close();
      this.sessions.delete(c.id);
    }
    const session = this.session(c);
    const attachment = session.attach(stdio, size ? { rows: size.rows, cols: size.cols } : undefined);
    // A container that runs while the VCH has no session (a restarted VCH): attach to it.
    if (c.state.running) await session.open();
    // The session hears the exit before the VM's status records it; a client that inspects
    // the container once its attach ended must see it exited, as with Docker.
    const exitCode = attachment.exitCode.then(async (code) => {
      await this.exitRecorded(c.id);
      return code;
    });
    return { ...attachment, exitCode };
  }

  async exec(ref: string, options: ContainerExecOptions, stdio: ContainerStdio): Promise<ContainerAttachment> {
    const c = this.find(ref);
    if (!c.state.running) throw new ConflictError(`Container ${c.id} is not running`);
    const tether = await this.o.tethers.waitFor(c.id, 30_000);
    const env = options.env ? [...(c.record?.config.env ?? []), ...options.env] : c.record?.config.env;
    const session = await tether.exec(
      {
        argv: [...options.cmd],
        ...(env ? { env: [...env] } : {}),
        ...((options.user ?? c.record?.config.user) ? { user: options.user ?? c.record?.config.user } : {}),
        ...((options.workingDir ?? c.record?.config.workingDir)
          ? { cwd: options.workingDir ?? c.record?.config.workingDir }
          : {}),
        tty: options.tty ?? false,
        ...(options.size ? { rows: options.size.rows, cols: options.size.cols } : {}),
      },
      {
        ...(stdio.stdin ? { stdin: stdio.stdin } : {}),
        ...(stdio.stdout ? { stdout: stdio.stdout } : {}),
        ...(stdio.stderr ? { stderr: stdio.stderr } : {}),
      },
    );
    return {
      tty: session.tty,
      resize: (rows, cols) => session.resize(rows, cols),
      exitCode: session.exitCode,
      detach: () => session.close(),
    };
  }

  async resize(ref: string, rows: number, cols: number): Promise<void> {
    const c = this.find(ref);
    this.sessions.get(c.id)?.resize(rows, cols);
  }

  async wait(ref: string, condition: WaitCondition = 'not-running'): Promise<ContainerWaitResult> {
    const c = this.find(ref);
    const result = (x: CachedContainer): ContainerWaitResult => ({
      exitCode: x.state.exitCode,
      ...(x.state.error ? { error: x.state.error } : {}),
    });
    if (condition === 'removed') {
      let last = c;
      const off = this.o.cache.subscribe((e) => {
        if (e.container.id === c.id) last = e.container;
      });
      try {
        await this.o.cache.until(c.id, () => false);
      } catch {
        // removed: `until` rejects when the container goes
      } finally {
        off();
      }
      return result(last);
    }
    if (condition === 'not-running') {
      return result(await this.o.cache.until(c.id, (x) => !x.state.running));
    }
    // next-exit: an exit that is not the one already recorded (fast processes may skip `running`).
    const before = c.state;
    const done = await this.o.cache.until(
      c.id,
      (x) =>
        x.state.status === 'exited' &&
        (before.status !== 'exited' || x.state.finishedAt?.getTime() !== before.finishedAt?.getTime()),
    );
    return result(done);
  }

  async stop(ref: string, options: ContainerStopOptions = {}): Promise<void> {
    const c = this.find(ref);
    await this.stoppedByUser(c);
    if (!c.state.running) return;
    const signal = options.signal ?? c.record?.config.stopSignal ?? 'SIGTERM';
    const timeoutS = options.timeout ?? c.record?.config.stopTimeout ?? DEFAULT_STOP_TIMEOUT_S;
    const sent = await this.signal(c, signal);
    if (sent && timeoutS > 0) {
      const stopped = await this.o.cache
        .until(c.id, (x) => !x.state.running, timeoutS * 1000)
        .then(
          () => true,
          () => false,
        );
      if (stopped) return;
    }
    await this.hardStop(c, 137);
  }

  async kill(ref: string, signal = 'SIGKILL'): Promise<void> {
    const c = this.find(ref);
    if (!c.state.running) throw new ConflictError(`Container ${c.id} is not running`);
    await this.stoppedByUser(c);
    if (!(await this.signal(c, signal)) && /^(SIG)?KILL$|^9$/.test(signal)) await this.hardStop(c, 137);
  }

  async remove(ref: string, options: { readonly force?: boolean } = {}): Promise<void> {
    const c = this.find(ref);
    if (c.state.running && !options.force) {
      throw new ConflictError(
        `You cannot remove a running container ${c.id}. Stop the container before attempting removal or force remove`,
      );
    }
    this.sessions.get(c.id)?.close();
    this.sessions.delete(c.id);
    // Listening before the destroy: the VM's leave may reach the cache before the files are gone.
    const gone = this.o.cache.until(c.id, () => false, 30_000).catch(() => undefined);
    const logs = this.logStore(c);
    await logs.stop();
    try {
      await this.destroy(c.vm);
    } finally {
      // Stopped for good: a container that is still there after a failed destroy gets a new one.
      this.logStores.delete(c.id);
    }
    await logs.deleteFiles();
    await gone;
  }

  async inspect(ref: string): Promise<ContainerDetails> {
    return this.details(this.find(ref));
  }

  async list(options: ContainerListOptions = {}): Promise<readonly ContainerSummary[]> {
    return this.o.cache
      .all()
      .map((c) => this.details(c))
      .filter((c) => options.all || c.state.running)
      .sort((a, b) => b.created.getTime() - a.created.getTime());
  }

  /**
   * `docker logs`: the output of every run, from the datastore, and what the live session has
   * that is not there yet; with follow, until the current run ends.
   */
  async readLogs(ref: string, options: ContainerLogOptions): Promise<ContainerLogs> {
    const c = this.find(ref);
    let session = this.sessions.get(c.id);
    if (options.follow && c.state.running && (!session || session.ended)) {
      // Running while the VCH has no session for it (a restarted VCH): attach to follow it.
      session = this.session(c);
      await session.open();
    }
    const persisted = await this.logStore(c).read();
    return readContainerLogs(persisted, session, options, () => this.exitRecorded(c.id));
  }

  /** `docker rename`: the record's name and the VM's (`<name>-<shortid>`). */
  async rename(ref: string, newName: string): Promise<void> {
    const c = this.find(ref);
    await renameContainer(
      {
        placement: this.p,
        cache: this.o.cache,
        nameTaken: (n) => this.nameTaken(n),
        reserve: (n, id) => {
          this.reserved.set(n, id);
          return () => {
            if (this.reserved.get(n) === id) this.reserved.delete(n);
          };
        },
      },
      c,
      newName,
    );
  }

  /**
   * `docker update`: the restart policy applies from the next exit on; a new size is recorded
   * and given to the VM while it is off (a running clone cannot change size), so it takes
   * effect at the next start. One reconfigure carries it all.
   */
  async update(ref: string, update: ContainerUpdate): Promise<{ readonly warnings: readonly string[] }> {
    const c = this.find(ref);
    const next =
      update.resources && c.record
        ? resourcesOf(c.record.resources, update.resources, c.powerState === 'poweredOn')
        : undefined;
    const restart = update.restartPolicy ? { ...c.restart, policy: update.restartPolicy } : undefined;
    if (!next && !restart) return { warnings: [] };
    await reconfigure(this.p.ctx, c.vm, {
      extraConfig: toOptionValues({
        ...(next ? { [KEY_RECORD]: JSON.stringify({ ...c.record, resources: next.resources }) } : {}),
        ...(restart ? { [KEY_RESTART]: formatRestartState(restart) } : {}),
      }),
      ...(next && c.powerState === 'poweredOff' ? sizeSpec(next.size) : {}),
    });
    // Answered once this VCH's view has it: a start or inspect right after sees the update.
    await this.o.cache.until(
      c.id,
      (x) =>
        (!restart || x.restart.policy.name === restart.policy.name) &&
        (!next || sameResources(x.record?.resources, next.resources)),
      30_000,
    );
    return { warnings: next?.warnings ?? [] };
  }

  /** `docker top`: `ps` in the container through the exec path. */
  async top(ref: string, psArgs?: string): Promise<ContainerTop> {
    const c = this.find(ref);
    if (!c.state.running) throw new ConflictError(`Container ${c.id} is not running`);
    return topOf((options, stdio) => this.exec(c.id, options, stdio), psArgs);
  }

  /** `docker stats`: one sample from the VM's quickStats; zeros when not running. */
  async stats(ref: string): Promise<ContainerStatsSample> {
    return this.sampler.sample(this.find(ref));
  }

  // -------------------------------------------------------------------------------------

  private find(ref: string): CachedContainer {
    return resolveContainer(this.o.cache.all(), ref);
  }

  /** Docker's HasBeenManuallyStopped: a policy does not bring back what the user stopped. */
  private async stoppedByUser(c: CachedContainer): Promise<void> {
    this.restarts.cancel(c.id);
    if (c.restart.policy.name !== 'no' && !c.restart.manuallyStopped) {
      await this.saveRestartState(c, { ...c.restart, manuallyStopped: true });
    }
  }

  private async saveRestartState(c: CachedContainer, state: RestartState): Promise<void> {
    await setExtraConfig(this.p.ctx, c.vm, { [KEY_RESTART]: formatRestartState(state) });
  }

  private nameTaken(name: string): string | undefined {
    return this.reserved.get(name) ?? this.o.cache.all().find((c) => c.name === name)?.id;
  }

  private session(c: CachedContainer): MainSession {
    let s = this.sessions.get(c.id);
    if (!s || (s.ended && c.state.status !== 'exited')) {
      s = new MainSession({
        id: c.id,
        tty: c.record?.config.tty ?? false,
        openStdin: c.record?.config.openStdin ?? false,
        stdinOnce: c.record?.config.stdinOnce ?? false,
        tethers: this.o.tethers,
        connectTimeoutMs: 60_000,
        ...(c.record?.consoleSize ? { size: c.record.consoleSize } : {}),
        sink: this.logStore(c),
      });
      this.sessions.set(c.id, s);
    }
    return s;
  }

  private logStore(c: CachedContainer): ContainerLogStore {
    let store = this.logStores.get(c.id);
    if (!store) {
      store = new ContainerLogStore({
        files: this.o.files,
        folder: () => vmHomeFolder(this.p.ctx, c.vm, this.p.datastore),
        label: c.id.slice(0, 12),
        log: this.o.log ?? (() => {}),
      });
      this.logStores.set(c.id, store);
    }
    return store;
  }

  /**
   * `--rm`: the exit is recorded; once the VCH also has the run's last output (its session
   * ended) the container goes, its VM powered off by the destroy rather than waiting for the
   * guest's own sync and shutdown: the disk that sync would keep is deleted with it.
   */
  private autoRemove(id: string): void {
    if (this.autoRemoving.has(id)) return;
    this.autoRemoving.add(id);
    const session = this.sessions.get(id);
    const off = this.o.cache.until(id, (x) => x.powerState === 'poweredOff', 30_000).catch(() => undefined);
    void (session && !session.fresh ? Promise.race([session.whenEnded, off]) : off)
      .then(() => (this.o.cache.byId(id) ? this.remove(id, { force: true }) : undefined))
      .catch((err: Error) => this.o.log?.(`auto-remove ${id.slice(0, 12)}: ${err.message}`))
      .finally(() => this.autoRemoving.delete(id));
  }

  /** Until the VM's status (or power) shows the exit; a lost status is not worth hanging for. */
  private async exitRecorded(id: string): Promise<void> {
    await this.o.cache
      .until(id, (x) => x.status?.state === 'exited' || x.powerState === 'poweredOff', EXIT_RECORD_TIMEOUT_MS)
      .catch(() => undefined);
  }

  private async signal(c: CachedContainer, name: string): Promise<boolean> {
    const session = this.session(c);
    if (!session.signal(name)) {
      await session.open().catch(() => undefined);
      return session.signal(name);
    }
    return true;
  }

  /** Power off under the process; the status says so for whoever reads the VM next. */
  private async hardStop(c: CachedContainer, exitCode: number): Promise<void> {
    await powerOff(this.p.ctx, c.vm).catch((e: unknown) => {
      if (faultTypeOf(e) !== 'InvalidPowerState') throw e;
    });
    // The run's start stays known after its end, as the tether's own exit status keeps it.
    const startedAt = c.state.startedAt?.toISOString();
    await setExtraConfig(this.p.ctx, c.vm, {
      [KEY_STATUS]: JSON.stringify({
        state: 'exited',
        exitCode,
        finishedAt: new Date().toISOString(),
        ...(startedAt ? { startedAt } : {}),
      }),
    });
    this.sessions.get(c.id)?.markExited(exitCode);
  }

  /** An exited container runs again by a cold boot of its VM; its disks are in its config. */
  private async coldBoot(c: CachedContainer): Promise<CachedContainer> {
    if (c.powerState !== 'poweredOff') {
      await this.o.cache
        .until(c.id, (x) => x.powerState === 'poweredOff', 60_000)
        .catch(async () => {
          await powerOff(this.p.ctx, c.vm).catch(() => undefined);
        });
    }
    // The last run's session goes; one attached for this run (not opened yet) stays.
    const previous = this.sessions.get(c.id);
    if (previous && !previous.fresh) {
      previous.close();
      this.sessions.delete(c.id);
    }
    const retarget = serialUriRetargetSpec(await readDevices(this.p.ctx, c.vm), this.o.templates.serialUri);
    await reconfigure(this.p.ctx, c.vm, {
      extraConfig: toOptionValues({ [KEY_STATUS]: null }),
      // A size `docker update` gave it while it ran (a running VM could not take it then).
      ...(c.record?.resources ? sizeSpec(vmSizeOf(c.record.resources).size) : {}),
      // The attach server moved since the VM was made (a VCH restarted on another port).
      ...(retarget ? { deviceChange: [retarget] } : {}),
    });
    await powerOn(this.p.ctx, c.vm);
    return this.o.cache.until(c.id, (x) => x.status?.state === 'created', this.o.createTimeoutMs ?? 120_000);
  }

  private async destroy(vm: ManagedObjectReference): Promise<void> {
    await powerOff(this.p.ctx, vm).catch((e: unknown) => {
      if (faultTypeOf(e) !== 'InvalidPowerState') throw e;
    });
    const detach = layerDetachChanges(await readDevices(this.p.ctx, vm));
    if (detach.length > 0) await changeDevices(this.p.ctx, vm, detach);
    await destroyVM(this.p.ctx, vm);
  }

  private details(c: CachedContainer): ContainerDetails {
    const config = c.record?.config;
    const argv = config ? [...config.entrypoint, ...config.cmd] : [];
    return {
      id: c.id,
      name: `/${c.name}`,
      image: config?.image ?? '',
      imageId: config?.imageId ?? '',
      command: commandLine(argv),
      created: new Date(c.record?.created ?? 0),
      // Docker counts a container waiting for (or in) its policy's restart as running.
      state: this.restarts.isRestarting(c.id) ? { ...c.state, status: 'restarting', running: true } : c.state,
      labels: config?.labels ?? {},
      path: argv[0] ?? '',
      args: argv.slice(1),
      config: config ?? {
        image: '',
        imageId: '',
        hostname: '',
        domainname: '',
        user: '',
        env: [],
        cmd: [],
        entrypoint: [],
        workingDir: '',
        tty: false,
        openStdin: false,
        stdinOnce: false,
        labels: {},
      },
      vm: { name: c.vmName, moref: c.vm.value },
      hostConfig: {
        autoRemove: c.record?.autoRemove ?? false,
        restartPolicy: c.restart.policy,
        ...(c.record?.resources ? { resources: c.record.resources } : {}),
      },
      restartCount: c.restart.count,
    };
  }
}

/** The part of a VM's config spec that sets its size. */
function sizeSpec(size: VmSize): { numCPUs: number; memoryMB: number } {
  return { numCPUs: size.cpus, memoryMB: size.memoryMB };
}

function sameResources(a: ContainerResources | undefined, b: ContainerResources): boolean {
  return a?.nanoCpus === b.nanoCpus && a?.memoryBytes === b.memoryBytes;
}

/** Docker's ExtraHosts `host:ip` as an /etc/hosts line. */
function hostsLine(entry: string): string {
  const i = entry.indexOf(':');
  return i < 0 ? entry : `${entry.slice(i + 1)}\t${entry.slice(0, i)}`;
}
