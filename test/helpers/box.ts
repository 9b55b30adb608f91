/**
 * The box for end-to-end tests: exactly what `vch dev --with-test-registry` starts (the
 * same `startBox`), on a free port and with logs kept quiet unless VCH_TEST_LOG is set,
 * plus a way to start more VCHs on the same vSphere.
 */

import pino, { type Logger } from 'pino';
import { type RunningDaemon, startDaemon } from '../../bin/commands/daemon';
import { type RunningBox, startBox } from '../../bin/commands/dev';
import type { PortLayerConfig } from '../../src/portlayer/config';

export type { RunningBox };

export function testLogger(): Logger {
  const level = process.env.VCH_TEST_LOG ?? 'silent';
  return pino({ name: 'vch-test', level }, pino.destination(2));
}

export function startTestBox(
  options: { insecureRegistries?: readonly string[]; withContainers?: boolean } = {},
): Promise<RunningBox> {
  return startBox({
    logger: testLogger(),
    port: 0,
    withTestRegistry: true,
    // What `vch dev` runs: containers too (an images-only suite may leave them out).
    withContainers: options.withContainers ?? true,
    ...(options.insecureRegistries ? { insecureRegistries: options.insecureRegistries } : {}),
  });
}

/**
 * Another VCH process's worth of VCH (port layer and Docker API) on the box's vSphere, with
 * the config changed as given: same name and datastore to see the same images, another
 * name for a VCH of its own.
 */
export function startAnotherVch(box: RunningBox, change: Partial<PortLayerConfig>): Promise<RunningDaemon> {
  return startDaemon({
    logger: testLogger(),
    listen: { tcp: { host: '127.0.0.1', port: 0 } },
    portLayer: { ...box.portLayerConfig, ...change },
  });
}
