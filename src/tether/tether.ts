import { MainProcess } from './main-process';
import { createLauncher } from './process-launcher';
import { FrameConnection } from './protocol/connection';
import type { ExitStatus } from './protocol/messages';
import { SessionHost } from './session-host';
import type { SpecSource, StatusSink } from './spec-source';
import { openTransport, type TransportAddress } from './transport';

export interface TetherOptions {
  spec: SpecSource;
  status?: StatusSink;
  transport: TransportAddress;
  rootDir: string;
  helperPath: string;
  log?: (message: string) => void;
}

/**
 * The tether's run loop: read the spec, connect the backchannel (again whenever it drops:
 * the VCH may restart), serve sessions, and resolve with the main process's exit status.
 * What then happens to the VM (power off) is the caller's business.
 */
export async function runTether(options: TetherOptions): Promise<ExitStatus> {
  const log = options.log ?? (() => {});
  const spec = await options.spec.read();
  const launcher = createLauncher({ rootDir: options.rootDir, helperPath: options.helperPath });
  const main = new MainProcess(spec.process, launcher);
  let stopped = false;

  const serve = async (): Promise<void> => {
    let delay = 50;
    while (!stopped) {
      try {
        const conn = new FrameConnection(await openTransport(options.transport));
        const closed = new Promise<void>((resolve) => conn.onClose(() => resolve()));
        const host = new SessionHost(conn, { vmId: spec.vmId, containerId: spec.containerId, main, launcher, log });
        await host.handshake();
        delay = 50;
        await closed;
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
  await options.status?.exited(status);
  return status;
}
