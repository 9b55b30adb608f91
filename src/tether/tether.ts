import type { Duplex } from 'node:stream';
import { MainProcess } from './main-process';
import { createLauncher, type Launcher, type LauncherOptions } from './process-launcher';
import { FrameConnection } from './protocol/connection';
import type { ExitStatus } from './protocol/messages';
import { SessionHost } from './session-host';
import type { SpecSource, StatusSink } from './spec-source';
import { openTransport, type TransportAddress } from './transport';

export interface TetherOptions {
  spec: SpecSource;
  status?: StatusSink;
  /** Where the backchannel is, or a function that opens it (a VM's virtio-serial port). */
  transport: TransportAddress | (() => Promise<Duplex>);
  rootDir: string;
  /** Processes run chrooted into rootDir (in a VM); see LauncherOptions.chroot. */
  chroot?: boolean;
  helperPath: string;
  log?: (message: string) => void;
  /**
   * Resolves when processes may start (a VM's root is still being mounted while the
   * backchannel connects); a rejection fails every start with its message.
   */
  ready?: Promise<void>;
  /** A parked helper for the main process (see LauncherOptions.parked). */
  parked?: LauncherOptions['parked'];
  /** Called after each hello is answered: the VCH can reach the tether. */
  onConnected?: () => void;
}

/**
 * How long the main process's Exit may take to reach an attached VCH (its answering Close)
 * before the tether gives up on it; normally a round trip of a few milliseconds.
 */
const EXIT_DELIVERY_MS = 3000;

/**
 * The tether's run loop: read the spec, connect the backchannel (again whenever it drops:
 * the VCH may restart), serve sessions, and resolve with the main process's exit status
 * once it is in the status and an attached VCH has it too. What then happens to the VM
 * (power off) is the caller's business.
 */
export async function runTether(options: TetherOptions): Promise<ExitStatus> {
  const log = options.log ?? (() => {});
  const spec = await options.spec.read();
  const launch = createLauncher({
    rootDir: options.rootDir,
    helperPath: options.helperPath,
    chroot: options.chroot,
    parked: options.parked,
  });
  const ready = options.ready;
  const launcher: Launcher = ready ? async (p) => ready.then(() => launch(p)) : launch;
  const main = new MainProcess(
    spec.process,
    launcher,
    (pid) => {
      options.status?.started(pid).catch((err: Error) => log(`status: ${err.message}`));
    },
    spec.openStdin ?? true,
  );
  const transport = options.transport;
  const open = typeof transport === 'function' ? transport : () => openTransport(transport);
  let stopped = false;
  let current: SessionHost | undefined;

  const serve = async (): Promise<void> => {
    let delay = 50;
    while (!stopped) {
      try {
        const conn = new FrameConnection(await open());
        const closed = new Promise<void>((resolve) => conn.onClose(() => resolve()));
        const host = new SessionHost(conn, { vmId: spec.vmId, containerId: spec.containerId, main, launcher, log });
        await host.handshake();
        current = host;
        options.onConnected?.();
        delay = 50;
        await closed;
        if (current === host) current = undefined;
      } catch (err) {
        log(`backchannel: ${(err as Error).message}`);
      }
      if (!stopped) await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 1000);
    }
  };
  void serve();

  const status = await main.exited();
  stopped = true;
  const reported: ExitStatus & { error?: string } = main.failure ? { ...status, error: main.failure } : status;
  await Promise.all([options.status?.exited(reported), current?.settled(EXIT_DELIVERY_MS)]);
  return reported;
}
