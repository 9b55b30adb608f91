/**
 * The tether as a container VM's init (docs/container-vm.md, guest side). In the template:
 * warm up, then freeze; the `freeze` call returns in each clone. In a clone (or on a cold
 * boot of a container VM, e.g. a restart): identity, seed, clock and spec from guestinfo,
 * the container's disks stacked into its root while the backchannel connects, status
 * `created` once both are done, the main process on the first attach, its exit reported,
 * then power off.
 *
 * Never hangs and never lets Node exit: any failure before the process runs becomes
 * status `exited` (125, with the reason) and a power-off.
 */

import type { ChildProcess } from 'node:child_process';
import { findVirtioPort, GuestInfo } from '../guestinfo';
import { parkHelper } from '../parked-helper';
import { ExecError } from '../path-lookup';
import { type ContainerVmSpec, parseContainerVmSpec } from '../protocol/containerSpec';
import { runTether } from '../tether';
import { identitySteps } from './identity';
import { CONTAINER_ROOT, DEVPTS_STEP, rootSteps, runSteps, type Step } from './rootfs';
import { GuestInfoStatus } from './status';
import { cloneSteps, powerOff } from './system';
import { VirtioPort } from './virtio-port';
import { warmSession } from './warm-session';

export const BACKCHANNEL_PORT_NAME = 'org.vch.backchannel';
/** Hot-added disks show up ~0.2 s after the hypervisor adds them; this is for a slow host. */
const DISK_TIMEOUT_MS = 60_000;

export interface VmOptions {
  helperPath: string;
  log: (message: string) => void;
}

/** What keeps the container from starting: reported as exited with this code. */
class StartError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/**
 * Everything a clone will need, done once in the template so no clone pays for it: the
 * modules are loaded (main.js requires them all), the helper is paged in and
 * child_process warmed by a real parked helper, the spec parser and the steps' builders
 * run once.
 */
async function warmUp(helperPath: string): Promise<void> {
  // Through a parked helper, as a clone's root set-up goes.
  await runSteps(helperPath, [DEVPTS_STEP, ['mkdir', '/run/vch/layers']], parkHelper(helperPath));
  const spec = parseContainerVmSpec(
    JSON.stringify({
      id: '0'.repeat(64),
      name: 'warm',
      hostname: 'warm',
      process: { argv: ['true'] },
      openStdin: false,
      stdinOnce: false,
      layers: [{ unit: 0, diffId: 'sha256:' }],
      rwDisk: { unit: 1 },
    }),
  );
  rootSteps(spec, DISK_TIMEOUT_MS);
  identitySteps(spec, CONTAINER_ROOT);
}

export async function runVm(options: VmOptions): Promise<never> {
  const { helperPath, log } = options;
  let parkedPowerOff: ChildProcess | undefined;
  // Monotonic: the clone's wall clock jumps when it is set.
  let t0 = performance.now();
  const since = (): string => `${Math.round(performance.now() - t0)} ms`;
  const guestInfo = await GuestInfo.open();
  const status = new GuestInfoStatus(guestInfo);
  try {
    const role = await guestInfo.get('guestinfo.vch.role');
    const cloned = role === 'template';
    let port: VirtioPort | undefined;
    // Helpers parked in the template: the clone's root set-up, its main process, its power-off.
    let parkedRoot: ChildProcess | undefined;
    let parkedMain: ChildProcess | undefined;
    if (cloned) {
      await warmUp(helperPath);
      // A whole session, played once so every clone finds its code compiled.
      await warmSession(helperPath).catch((err: Error) => log(`warm session: ${err.message}`));
      // Opened before the freeze: a clone finds it open.
      port = await VirtioPort.open(await findVirtioPort(BACKCHANNEL_PORT_NAME));
      parkedRoot = parkHelper(helperPath);
      parkedMain = parkHelper(helperPath);
      parkedPowerOff = parkHelper(helperPath);
      log(`template warm (uptime ${process.uptime().toFixed(2)} s): freezing`);
      await guestInfo.freeze();
      t0 = performance.now(); // times from here on are the clone's own
      log('cloned');
    } else {
      // A cold boot (a restart): the template's warm-up was never done here.
      await warmUp(helperPath).catch((err: Error) => log(`warm-up: ${err.message}`));
    }
    const [seed, clock, specText] = await Promise.all([
      guestInfo.get('guestinfo.vch.seed'),
      guestInfo.get('guestinfo.vch.clock'),
      guestInfo.get('guestinfo.vch.spec'),
    ]);
    log(`identity read (${since()})`);
    if (!specText) throw new StartError('no guestinfo.vch.spec', 125);
    let spec: ContainerVmSpec;
    try {
      spec = parseContainerVmSpec(specText);
    } catch (err) {
      throw new StartError((err as Error).message, 125);
    }

    // The root is built while the backchannel connects: a process starts once it is ready.
    // Seed and clock are the clone's: a cold boot (a restart) has its own entropy and reads
    // the time from the RTC, where the clone-time values would be stale.
    const first = cloned ? cloneSteps(seed, clock, log) : [];
    const root = setUpRoot(spec, helperPath, first, (m) => log(`${m} (${since()})`), parkedRoot);
    let rootFailed = (_err: Error): void => {};
    const failed = new Promise<never>((_, reject) => {
      rootFailed = reject;
    });
    const ready = root.then(
      () => undefined,
      (err: Error) => {
        rootFailed(new StartError(err.message, 125));
        throw new ExecError(err.message, 125);
      },
    );
    ready.catch(() => undefined); // handled through `failed`; no unhandled rejection
    let connected = false;
    const reportCreated = (): void => {
      ready.then(
        () => status.created().catch((err: Error) => log(`status: ${err.message}`)),
        () => undefined,
      );
    };
    const sink = {
      started: (pid: number) => {
        log(`main process ${pid} started (${since()})`);
        return status.started(pid);
      },
      exited: async (s: Parameters<GuestInfoStatus['exited']>[0]) => {
        log(`main process exited ${s.exitCode} (${since()})`);
        await status.exited(s);
        log(`exit recorded in guestinfo (${since()})`);
      },
    };
    const backchannel = port ?? (await VirtioPort.open(await findVirtioPort(BACKCHANNEL_PORT_NAME)));
    const exit = await Promise.race([
      failed,
      runTether({
        spec: {
          read: async () => ({ vmId: spec.id, containerId: spec.id, process: spec.process, openStdin: spec.openStdin }),
        },
        status: sink,
        transport: () => backchannel.connect(),
        rootDir: CONTAINER_ROOT,
        chroot: true,
        helperPath,
        parked: () => {
          const p = parkedMain;
          parkedMain = undefined;
          return p;
        },
        log,
        ready,
        onConnected: () => {
          if (connected) return;
          connected = true;
          log(`backchannel up (${since()})`);
          reportCreated();
        },
      }),
    ]);
    log(`the VCH has the exit ${exit.exitCode} (${since()})`);
  } catch (err) {
    const exitCode = err instanceof StartError ? err.exitCode : 125;
    log(`cannot run the container: ${(err as Error).message}`);
    await status.exited({ exitCode, error: (err as Error).message }).catch((e: Error) => log(`status: ${e.message}`));
  }
  return powerOff(helperPath, log, parkedPowerOff);
}

/** Clock and seed, then the disks into the root, then the names: one helper exec. */
async function setUpRoot(
  spec: ContainerVmSpec,
  helperPath: string,
  first: Step[],
  log: (m: string) => void,
  parked?: ChildProcess,
): Promise<void> {
  const steps = [...first, ...rootSteps(spec, DISK_TIMEOUT_MS), ...identitySteps(spec, CONTAINER_ROOT)];
  const times = await runSteps(helperPath, steps, parked);
  log(`root ready; its steps in ms: ${times.trim().split('\n').join(', ')}`);
}
