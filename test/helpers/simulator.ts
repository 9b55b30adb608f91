import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type RunningSimulator, type SimulatorOptions, startSimulator } from '../../src/simulator/vcsim/process';

export const TEST_USERNAME = 'vch-test';
export const TEST_PASSWORD = 'vch-test-pass';

/**
 * A vcsim for one test file: TLS on, fixed credentials, quiet, datastores in a temp folder that
 * stop() removes. Call stop() in afterAll.
 */
export async function startTestSimulator(opts: SimulatorOptions = {}): Promise<RunningSimulator> {
  const ownDir = opts.datastoreDir === undefined;
  const datastoreDir = opts.datastoreDir ?? (await mkdtemp(path.join(tmpdir(), 'vch-sim-ds-')));
  try {
    const sim = await startSimulator({
      tls: true,
      username: TEST_USERNAME,
      password: TEST_PASSWORD,
      quiet: true,
      ...opts,
      datastoreDir,
    });
    const stop = sim.stop;
    return {
      ...sim,
      stop: async () => {
        await stop();
        if (ownDir) await rm(datastoreDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    if (ownDir) await rm(datastoreDir, { recursive: true, force: true });
    throw err;
  }
}
