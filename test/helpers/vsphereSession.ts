import type { RunningSimulator, SimulatorOptions } from '../../src/simulator/vcsim/process';
import { type ConnectOptions, VimClient } from '../../src/vsphere/client';
import type { VimContext } from '../../src/vsphere/tasks';
import { UpdatesLoop, type UpdatesLoopOptions } from '../../src/vsphere/updates';
import { startTestSimulator } from './simulator';

/** A VimClient logged in to `sim` with its credentials, pinned to its certificate's thumbprint. */
export function connectToSimulator(sim: RunningSimulator, extra: Partial<ConnectOptions> = {}): Promise<VimClient> {
  return VimClient.connect({
    url: sim.url,
    username: sim.username,
    password: sim.password,
    thumbprint: sim.thumbprint,
    ...extra,
  });
}

export interface VsphereSessionOptions {
  /** For startTestSimulator. */
  readonly simulator?: SimulatorOptions;
  /** Runs once the client is connected, before the updates loop starts (e.g. to wrap `client.invoke`). */
  readonly onConnect?: (client: VimClient) => void;
  /** Options for the session's UpdatesLoop; false for a session without one. */
  readonly updates?: UpdatesLoopOptions | false;
}

export interface VsphereSession {
  readonly sim: RunningSimulator;
  readonly client: VimClient;
  /** The session's one UpdatesLoop and the client, for the task helpers. Absent with `updates: false`. */
  readonly ctx: VimContext;
  /** Closes the updates loop, logs out, closes the client and stops the simulator. Call it in afterAll. */
  close(): Promise<void>;
}

/**
 * A test simulator and one session on it: a connected VimClient and (unless `updates: false`)
 * an UpdatesLoop. If any step fails, what was started is stopped before the error is thrown.
 */
export async function startVsphereSession(options: VsphereSessionOptions = {}): Promise<VsphereSession> {
  const sim = await startTestSimulator(options.simulator ?? {});
  let client: VimClient | undefined;
  let updates: UpdatesLoop | undefined;
  const close = async (): Promise<void> => {
    await updates?.close();
    await client?.logout().catch(() => undefined);
    await client?.close();
    await sim.stop();
  };
  try {
    client = await connectToSimulator(sim);
    options.onConnect?.(client);
    if (options.updates !== false) updates = await UpdatesLoop.start(client, options.updates);
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
  const ctx: VimContext = {
    client,
    get updates(): UpdatesLoop {
      if (updates === undefined) throw new Error('this vSphere session was started without an updates loop');
      return updates;
    },
  };
  return { sim, client, ctx, close };
}
