/**
 * The box's hypervisor: runs every powered-on simulator VM that has a bootstrap CD under
 * qemu, and keeps the simulator and qemu in step both ways (DESIGN.md, "vSphere in a box").
 *
 * - API → qemu: a VM powered on is started (cold boot, or restored from its frozen source
 *   when it is an instant clone); powered off or destroyed, its qemu is stopped.
 * - qemu → API: a guest that powers off, or a qemu that dies, powers the VM off
 *   (PowerOffVM_Task), with the reason logged.
 * - guestinfo: get/set of `guestinfo.*` extraConfig over a virtio-serial port; a `freeze`
 *   request saves the VM's state for instant clones and marks it frozen.
 *
 * - disks: a running VM's disks follow its config (hot add / remove, `diskHotplug.ts`).
 *
 * Each VM's transitions run one after another on a per-VM chain, so a power-off that
 * arrives while the VM is still starting waits for the start and then stops it, and a
 * reconfigure that arrives while a clone is being restored is applied once it runs.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { type ConnectOptions, VimClient } from '../../vsphere/client';
import { InvalidPowerStateError } from '../../vsphere/faults';
import type { VimContext } from '../../vsphere/tasks';
import { closeUpdatesFor, updatesFor } from '../../vsphere/updates';
import type { ManagedObjectReference } from '../../vsphere/vim25/values';
import { powerOff, readExtraConfig, setExtraConfig } from '../../vsphere/virtualMachine';
import { bootMediaFor } from './bootMedia';
import { type LocalDatastore, localPathOf } from './datastorePaths';
import { diffDisks, hotAdd, hotRemove, placedDisks, qemuDiskFor } from './diskHotplug';
import { type GuestInfoEndpoint, listenGuestInfo } from './guestinfoServer';
import type { QemuDisk, QemuPlan } from './qemuArgs';
import { QemuProcess } from './qemuProcess';
import type { QmpEvent } from './qmp';
import { CLONE_SOURCE_KEY, FREEZE_KEY, type VmConfig, vmConfigOf } from './vmConfig';
import { type VmUpdate, watchVirtualMachines } from './vmWatch';

export interface HostAgentOptions {
  /** A logged-in client; the agent uses it but does not log it out. */
  readonly client?: VimClient;
  /** Or where to log in: the agent then owns that session and ends it on stop. */
  readonly connect?: ConnectOptions;
  /** Datastore name → local folder, as the simulator's ready line lists them. */
  readonly datastores: readonly LocalDatastore[];
  /** JSON-line logger; default pino on stderr. */
  readonly log?: Logger;
  /** Sockets, consoles and saved states; default a temp dir removed on stop. */
  readonly stateDir?: string;
  /** Guest RAM files; default /dev/shm (tmpfs: RAM pages never written back to disk). */
  readonly ramDir?: string;
}

/** One VM under qemu, for tests and diagnostics. */
export interface RunningVm {
  readonly vm: string;
  readonly name: string;
  readonly pid: number;
  readonly startedAt: number;
  /** Started by restoring a frozen source (instant clone) rather than booting. */
  readonly restored: boolean;
  /** When the guest sent its first guestinfo request (ms since the epoch). */
  readonly firstGuestInfo: Promise<number>;
}

export interface HostAgent {
  readonly stateDir: string;
  /** Guest RAM files (frozen templates' among them). */
  readonly ramDir: string;
  running(): RunningVm[];
  stop(): Promise<void>;
}

interface Frozen {
  /** With the disks the VM had when it froze: a clone must start with exactly those devices. */
  readonly plan: QemuPlan;
  readonly stateFile: string;
}

interface Vm {
  readonly ref: ManagedObjectReference;
  readonly name: string;
  readonly proc: QemuProcess;
  readonly guestinfo: GuestInfoEndpoint;
  readonly plan: QemuPlan;
  readonly runDir: string;
  readonly startedAt: number;
  readonly restored: boolean;
  readonly events: Set<(e: QmpEvent) => void>;
  /** The disks qemu has now (the plan's, then as hot added and removed). */
  disks: QemuDisk[];
  /** Why the agent itself ended this qemu; unset means its exit came from the guest or a crash. */
  stopReason?: string;
  frozen?: boolean;
}

const MIGRATE_TIMEOUT_MS = 30_000;

export async function startHostAgent(o: HostAgentOptions): Promise<HostAgent> {
  const log = o.log ?? pino({ name: 'vch-hostagent' }, pino.destination(2));
  if (!o.client && !o.connect) throw new Error('startHostAgent needs a client or connect options');
  const client = o.client ?? (await VimClient.connect(o.connect as ConnectOptions));
  const ownClient = o.client === undefined;
  const ctx: VimContext = { client, updates: await updatesFor(client) };
  const ownStateDir = o.stateDir === undefined;
  const stateDir = o.stateDir ?? (await mkdtemp(path.join(tmpdir(), 'vch-hostagent-')));
  await mkdir(stateDir, { recursive: true });
  const ramDir =
    o.ramDir ?? (existsSync('/dev/shm') ? await mkdtemp('/dev/shm/vch-hostagent-ram-') : path.join(stateDir, 'ram'));
  await mkdir(ramDir, { recursive: true });

  const vms = new Map<string, Vm>();
  const frozen = new Map<string, Frozen>();
  const chains = new Map<string, Promise<void>>();
  /** VMs we already said we would not run (no bootstrap CD): said once, not at every update. */
  const skipped = new Set<string>();
  /**
   * VMs that have run here: an instant clone is restored from its source on its first power-on
   * only; powered on again it boots cold, as on ESXi (its RAM copy went with the power-off).
   */
  const hasRun = new Set<string>();
  let stopping = false;
  let startCounter = 0;
  /** Block node names must be unique in a qemu; unique across the agent is simplest. */
  let diskCounter = 0;

  const enqueue = (key: string, step: () => Promise<void>) => {
    const next = (chains.get(key) ?? Promise.resolve()).then(step).catch((err: unknown) => {
      log.error({ vm: key, err: errorText(err) }, 'host agent step failed');
    });
    chains.set(key, next);
    void next.then(() => {
      if (chains.get(key) === next) chains.delete(key);
    });
  };

  /** A step on the VM's chain whose result (or failure) goes to the caller. */
  const onChain = <T>(key: string, step: () => Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => enqueue(key, () => step().then(resolve, reject)));

  /** Each VM's config as last reported: a step acts on the newest, not on the one that queued it. */
  const latest = new Map<string, { ref: ManagedObjectReference; cfg: VmConfig }>();
  /**
   * VMs the agent powered off itself, until the watch reports them off: an update still in
   * flight from before (say, the guest's last guestinfo set) must not start them again.
   */
  const offByAgent = new Set<string>();

  /**
   * A template that is no longer frozen (powered off, destroyed): its saved state and RAM
   * file go. Running clones keep their private mappings of the RAM file; unlinking it is
   * safe for them, and a new power-on gets a new file, so no clone's RAM ever changes.
   */
  const forgetFrozen = (key: string) => {
    const f = frozen.get(key);
    if (!f) return;
    frozen.delete(key);
    void rm(f.plan.ramFile, { force: true });
    void rm(f.stateFile, { force: true });
  };

  const onUpdate = (u: VmUpdate) => {
    if (stopping) return;
    const key = u.vm.value;
    if (u.kind === 'leave') {
      latest.delete(key);
      hasRun.delete(key);
      forgetFrozen(key);
    } else {
      const cfg = vmConfigOf(u.values);
      latest.set(key, { ref: u.vm, cfg });
      if (cfg.powerState !== 'poweredOn') {
        offByAgent.delete(key);
        skipped.delete(key);
        forgetFrozen(key);
      }
    }
    enqueue(key, () => reconcile(key));
  };

  /** Brings qemu in line with the VM's newest known state. */
  async function reconcile(key: string): Promise<void> {
    const now = latest.get(key);
    if (!now) return stopVm(key, 'destroyed through the API');
    if (now.cfg.powerState === 'poweredOn') {
      if (offByAgent.has(key)) return;
      await ensureRunning(now.ref, now.cfg);
      // The newest config again: a restore takes a while, and the disks may have changed meanwhile.
      const after = latest.get(key);
      if (after) await syncDisks(key, after.cfg);
      return;
    }
    return stopVm(key, `${now.cfg.powerState} through the API`);
  }

  async function ensureRunning(ref: ManagedObjectReference, cfg: VmConfig): Promise<void> {
    const key = ref.value;
    if (stopping || vms.has(key) || frozen.has(key)) return;
    const sourceKey = cfg.extraConfig[CLONE_SOURCE_KEY];
    const source = sourceKey && !hasRun.has(key) ? frozen.get(sourceKey) : undefined;
    if (!cfg.isoPath && !source) {
      if (!skipped.has(key)) log.info({ vm: key, name: cfg.name }, 'powered on without a bootstrap CD: not run');
      skipped.add(key);
      return;
    }
    const runDir = path.join(stateDir, key);
    await rm(runDir, { recursive: true, force: true });
    await mkdir(runDir, { recursive: true });
    if (sourceKey && !source && !hasRun.has(key)) {
      log.warn({ vm: key, source: sourceKey }, 'instant clone of a source not frozen here: cold boot instead');
    }
    const sockets = {
      guestinfoSocket: path.join(runDir, 'guestinfo.sock'),
      qmpSocket: path.join(runDir, 'qmp.sock'),
      consoleLog: path.join(runDir, 'console.log'),
    };
    let plan: QemuPlan;
    if (source) {
      // Same devices and RAM file as the frozen source, mapped copy-on-write.
      plan = {
        ...source.plan,
        ...sockets,
        name: `${cfg.name} (${key})`,
        backchannelUri: cfg.serialUri,
        ramShared: false,
        incoming: true,
      };
    } else {
      const boot = await bootMediaFor(localPathOf(cfg.isoPath ?? '', o.datastores), stateDir);
      const drives = await Promise.all(
        placedDisks(cfg.disks).map((d) => qemuDiskFor(d, o.datastores, `disk${diskCounter++}`)),
      );
      plan = {
        ...sockets,
        name: `${cfg.name} (${key})`,
        memoryMiB: cfg.memoryMB,
        cpus: cfg.numCPU,
        boot,
        drives,
        backchannelUri: cfg.serialUri,
        // A new file for every boot: a file that clones were restored from is never reused.
        ramFile: path.join(ramDir, `${key}-${startCounter++}.ram`),
        ramShared: true,
      };
    }
    const guestinfo = await listenGuestInfo(
      sockets.guestinfoSocket,
      {
        get: async (k) => (await readExtraConfig(ctx, ref))[k],
        set: (k, v) => setExtraConfig(ctx, ref, { [k]: v === '' ? null : v }),
        // On the chain: a freeze must not save the VM halfway through a disk hot add.
        freeze: () => onChain(key, () => freeze(key)),
      },
      (err) => log.warn({ vm: key, err: errorText(err) }, 'guestinfo channel error'),
    );
    const events = new Set<(e: QmpEvent) => void>();
    let proc: QemuProcess;
    const startedAt = Date.now();
    hasRun.add(key);
    try {
      proc = await QemuProcess.start(plan, (e) => {
        for (const f of events) f(e);
      });
    } catch (err) {
      await guestinfo.close();
      log.error({ vm: key, name: cfg.name, err: errorText(err) }, 'qemu failed to start: powering the VM off');
      await powerOffInSimulator(ref);
      return;
    }
    const vm: Vm = {
      ref,
      name: cfg.name,
      proc,
      guestinfo,
      plan,
      runDir,
      startedAt,
      restored: !!source,
      events,
      disks: [...plan.drives],
    };
    vms.set(key, vm);
    void proc.exited.then((exit) => enqueue(key, () => onExit(vm, exit)));
    void guestinfo.firstRequest.then((t) =>
      log.info({ vm: key, ms: t - startedAt, restored: vm.restored }, 'first guestinfo request'),
    );
    log.info({ vm: key, name: cfg.name, pid: proc.pid, restored: !!source, memoryMB: plan.memoryMiB }, 'qemu started');
    if (source) await restore(vm, source);
  }

  async function restore(vm: Vm, source: Frozen): Promise<void> {
    const t0 = Date.now();
    await vm.proc.qmp.execute('migrate-set-capabilities', {
      capabilities: [
        { capability: 'x-ignore-shared', state: true },
        { capability: 'events', state: true },
      ],
    });
    const done = migrationDone(vm);
    await vm.proc.qmp.execute('migrate-incoming', { uri: `exec:cat ${shellQuote(source.stateFile)}` });
    await done;
    await vm.proc.qmp.execute('cont');
    // The template's `freeze` call returns here, in the clone: the guest re-reads its identity.
    vm.guestinfo.reply({ ok: true, value: 'cloned' });
    log.info({ vm: vm.ref.value, ms: Date.now() - t0 }, 'restored from frozen source');
  }

  /** Hot-adds and hot-removes disks so the running qemu has the disks `cfg` lists. */
  async function syncDisks(key: string, cfg: VmConfig): Promise<void> {
    const vm = vms.get(key);
    if (!vm || vm.frozen || stopping) return;
    const { add, remove } = diffDisks(vm.disks, cfg.disks);
    for (const disk of remove) {
      const t0 = Date.now();
      try {
        await hotRemove(vm.proc.qmp, vm.events, disk);
        vm.disks = vm.disks.filter((d) => d !== disk);
        log.info({ vm: key, target: disk.target, file: disk.file, ms: Date.now() - t0 }, 'disk hot-removed');
      } catch (err) {
        log.error({ vm: key, target: disk.target, err: errorText(err) }, 'disk hot remove failed');
      }
    }
    for (const d of add) {
      const t0 = Date.now();
      try {
        const disk = await qemuDiskFor(d, o.datastores, `disk${diskCounter++}`);
        await hotAdd(vm.proc.qmp, disk);
        vm.disks.push(disk);
        log.info(
          {
            vm: key,
            unit: d.unitNumber,
            target: disk.target,
            file: disk.file,
            format: disk.format,
            ms: Date.now() - t0,
          },
          'disk hot-added',
        );
      } catch (err) {
        log.error({ vm: key, unit: d.unitNumber, file: d.fileName, err: errorText(err) }, 'disk hot add failed');
      }
    }
  }

  /** The guest asked to be frozen: pause, save its state beside its shared RAM file, end qemu. */
  async function freeze(key: string): Promise<void> {
    const vm = vms.get(key);
    if (!vm) throw new Error('VM not running');
    if (!vm.plan.ramShared) throw new Error('a restored clone cannot be frozen again');
    const t0 = Date.now();
    const stateFile = path.join(vm.runDir, 'frozen.state');
    const qmp = vm.proc.qmp;
    await qmp.execute('stop');
    await qmp.execute('migrate-set-capabilities', {
      capabilities: [
        { capability: 'x-ignore-shared', state: true },
        { capability: 'events', state: true },
      ],
    });
    // The default 32 MiB/s cap would make the save take seconds for no reason.
    await qmp.execute('migrate-set-parameters', { 'max-bandwidth': 10 * 1024 * 1024 * 1024 });
    const done = migrationDone(vm);
    await qmp.execute('migrate', { uri: `exec:cat > ${shellQuote(stateFile)}` });
    await done;
    vm.frozen = true;
    vm.stopReason = 'frozen';
    frozen.set(key, { plan: { ...vm.plan, drives: [...vm.disks] }, stateFile });
    await vm.proc.stop();
    await setExtraConfig(ctx, vm.ref, { [FREEZE_KEY]: 'TRUE' });
    log.info({ vm: key, ms: Date.now() - t0 }, 'frozen for instant clone');
  }

  function migrationDone(vm: Vm): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error('migration did not finish')), MIGRATE_TIMEOUT_MS);
      const listener = (e: QmpEvent) => {
        if (e.event !== 'MIGRATION') return;
        const status = e.data?.status;
        if (status === 'completed') finish();
        else if (status === 'failed' || status === 'cancelled') finish(new Error(`migration ${String(status)}`));
      };
      function finish(err?: Error): void {
        clearTimeout(timer);
        vm.events.delete(listener);
        if (err) reject(err);
        else resolve();
      }
      vm.events.add(listener);
    });
  }

  async function stopVm(key: string, reason: string): Promise<void> {
    const vm = vms.get(key);
    if (!vm) return;
    vm.stopReason ??= reason;
    await vm.proc.stop();
    // onExit (queued on this chain by the exit) logs it and cleans up.
  }

  async function onExit(vm: Vm, exit: { code: number | null; signal: string | null; stderr: string }): Promise<void> {
    const key = vm.ref.value;
    if (vms.get(key) !== vm) return;
    vms.delete(key);
    await vm.guestinfo.close();
    const fields = {
      vm: key,
      name: vm.name,
      code: exit.code,
      signal: exit.signal,
      uptimeMs: Date.now() - vm.startedAt,
    };
    if (vm.frozen) {
      log.info(fields, 'qemu ended after freezing: the VM stays powered on, frozen');
      return;
    }
    if (vm.stopReason) {
      log.info({ ...fields, reason: vm.stopReason }, 'qemu stopped');
    } else if (exit.code === 0) {
      log.info({ ...fields, reason: 'guest powered off' }, 'guest powered off: powering the VM off');
      await powerOffInSimulator(vm.ref);
    } else {
      const console = await readFile(vm.plan.consoleLog, 'utf8').catch(() => '');
      log.warn(
        { ...fields, reason: 'qemu died', stderr: exit.stderr, console: console.slice(-2000) },
        'qemu died: powering the VM off',
      );
      await powerOffInSimulator(vm.ref);
    }
    if (!stopping) await rm(vm.runDir, { recursive: true, force: true });
    // Its own RAM file, not a frozen source's that a clone maps copy-on-write.
    if (vm.plan.ramShared) await rm(vm.plan.ramFile, { force: true });
  }

  async function powerOffInSimulator(ref: ManagedObjectReference): Promise<void> {
    if (stopping) return;
    offByAgent.add(ref.value);
    await powerOff(ctx, ref).catch((err: unknown) => {
      // Already off (the API got there first): nothing to do.
      if (!(err instanceof InvalidPowerStateError)) throw err;
    });
  }

  const watch = await watchVirtualMachines(client, onUpdate, (err) =>
    log.warn({ err: errorText(err) }, 'VM watch error (retrying)'),
  );
  log.info({ stateDir, ramDir, datastores: o.datastores.map((d) => d.name) }, 'host agent watching VMs');

  let stopped: Promise<void> | undefined;
  return {
    stateDir,
    ramDir,
    running: () =>
      [...vms.values()].map((v) => ({
        vm: v.ref.value,
        name: v.name,
        pid: v.proc.pid,
        startedAt: v.startedAt,
        restored: v.restored,
        firstGuestInfo: v.guestinfo.firstRequest,
      })),
    stop: () => {
      stopped ??= (async () => {
        stopping = true;
        await watch.close();
        for (const vm of vms.values()) vm.stopReason ??= 'host agent stopping';
        await Promise.all([...vms.values()].map((v) => v.proc.stop()));
        await Promise.all([...chains.values()]);
        if (ownClient) {
          await closeUpdatesFor(client).catch(() => undefined);
          await client.logout().catch(() => undefined);
          await client.close();
        }
        await rm(ramDir, { recursive: true, force: true });
        if (ownStateDir) await rm(stateDir, { recursive: true, force: true });
        log.info('host agent stopped');
      })();
      return stopped;
    },
  };
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
