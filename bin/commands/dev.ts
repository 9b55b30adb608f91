import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Logger } from 'pino';
import { KERNEL_RELEASE } from '../../src/bootstrap/pins';
import type { PortLayerConfig } from '../../src/portlayer/config';
import { startHostAgent } from '../../src/simulator/hostagent';
import {
  type PushedTestImages,
  pushTestImages,
  startTestRegistry,
  type TestRegistry,
} from '../../src/simulator/registry';
import { type RunningSimulator, startSimulator } from '../../src/simulator/vcsim/process';
import { collect, parseListenAddress, type RunningDaemon, startDaemon, stderrLogger, untilSignal } from './daemon';

export interface BoxOptions {
  /** Docker API address; default 127.0.0.1, port 2375 (0 picks a free one). */
  readonly host?: string;
  readonly port?: number;
  /** Start the offline test registry with the test images, used as docker.io's mirror. */
  readonly withTestRegistry?: boolean;
  /** More registries to speak plain http to, besides the test registry. */
  readonly insecureRegistries?: readonly string[];
  /** The VCH's name (its folder on the datastore); default `vch`. */
  readonly name?: string;
  /**
   * Containers: the host agent runs the simulator's VMs under qemu and the VCH makes its
   * template (a bootstrap image from the compiled tether, ~15 s of TCG boot the first time).
   * Default true; an images-only box leaves them out.
   */
  readonly withContainers?: boolean;
  readonly logger: Logger;
}

/** The whole box, running: vSphere, maybe a registry, and a VCH on them. */
export interface RunningBox {
  readonly sim: RunningSimulator;
  readonly registry?: { readonly server: TestRegistry; readonly pushed: PushedTestImages };
  readonly daemon: RunningDaemon;
  /** `tcp://127.0.0.1:2375`. */
  readonly dockerHost: string;
  /** The VCH's port-layer config: opening another port layer with it gives a second VCH on the same stores. */
  readonly portLayerConfig: PortLayerConfig;
  /** Stops everything in reverse order and removes the box's temp folders. */
  stop(): Promise<void>;
}

/** The simulator's model is ours: one datacenter, whose first cluster's root pool gets the containers. */
const BOX_POOL = 'DC0_C0/Resources';

/**
 * Starts the box in this process: the vSphere simulator, optionally the test registry with
 * the test images pushed, and a VCH daemon on them. `vch dev` and the end-to-end tests
 * both start it through here, so the tests run what a user runs.
 */
export async function startBox(o: BoxOptions): Promise<RunningBox> {
  const log = o.logger;
  const cleanups: (() => Promise<unknown>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  };
  try {
    // Temp folders of our own, so whatever way the children end nothing is left behind.
    const work = await mkdtemp(join(tmpdir(), 'vch-dev-'));
    cleanups.push(() => rm(work, { recursive: true, force: true }));
    const datastoreDir = join(work, 'datastores');
    const scratchDir = join(work, 'scratch');
    await Promise.all([mkdir(datastoreDir), mkdir(scratchDir)]);

    const [sim, registry] = await Promise.all([
      startSimulator({ tls: true, quiet: true, datastoreDir, log: (msg) => log.info({ component: 'sim' }, msg) }),
      o.withTestRegistry ? startTestRegistry() : Promise.resolve(undefined),
    ]);
    cleanups.push(() => sim.stop());
    if (registry) cleanups.push(() => registry.stop());
    log.info({ url: sim.url, vms: sim.vms, hosts: sim.hosts }, 'vSphere simulator ready');

    // The box's hypervisor, once the simulator is up and before the VCH (whose template it
    // runs); stopped before the simulator (cleanups run in reverse), so no qemu outlives it.
    const withContainers = o.withContainers ?? true;
    if (withContainers) {
      const agent = await startHostAgent({
        connect: { url: sim.url, username: sim.username, password: sim.password, thumbprint: sim.thumbprint },
        datastores: sim.datastores,
        log: log.child({ component: 'hostagent' }),
      });
      cleanups.push(() => agent.stop());
    }

    let pushed: PushedTestImages | undefined;
    if (registry) {
      pushed = await pushTestImages(registry);
      log.info({ registry: registry.url, images: Object.keys(pushed.images) }, 'test registry ready');
    }
    const portLayerConfig: PortLayerConfig = {
      name: o.name ?? 'vch',
      vsphere: { url: sim.url, username: sim.username, password: sim.password, thumbprint: sim.thumbprint ?? '' },
      pool: BOX_POOL,
      scratchDir,
      kernelVersion: KERNEL_RELEASE,
      // The agent's qemu dials the attach server on this host: loopback is enough here.
      ...(withContainers ? { containers: { attachHost: '127.0.0.1' } } : {}),
      // The test registry stands in for Docker Hub: `docker pull busybox` works offline.
      registry: {
        mirrors: registry ? [registry.url] : [],
        insecureRegistries: [...(registry ? [registry.host] : []), ...(o.insecureRegistries ?? [])],
      },
    };
    const daemon = await startDaemon({
      logger: log,
      listen: { tcp: { host: o.host ?? '127.0.0.1', port: o.port ?? 2375 } },
      portLayer: portLayerConfig,
    });
    cleanups.push(() => daemon.close());
    return {
      sim,
      ...(registry && pushed ? { registry: { server: registry, pushed } } : {}),
      daemon,
      dockerHost: daemon.addresses[0]!,
      portLayerConfig,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

interface DevFlags {
  listen: string;
  port?: string;
  withTestRegistry?: boolean;
  insecureRegistry: string[];
  name: string;
}

/** `vch dev`: the box — vSphere simulator, optional offline registry, and a VCH — until Ctrl-C. */
export function registerDev(program: Command): void {
  program
    .command('dev')
    .description('run the box: the vSphere simulator and a VCH on it (Docker API on 127.0.0.1:2375) until Ctrl-C')
    .option('--listen <host:port>', 'Docker API address', '127.0.0.1:2375')
    .option('--port <n>', 'Docker API port (overrides the one in --listen; 0 picks a free one)')
    .option('--with-test-registry', 'run the offline test registry as docker.io mirror (docker pull busybox works)')
    .option('--insecure-registry <host:port>', 'another registry spoken to over plain http (repeatable)', collect, [])
    .option('--name <name>', "the VCH's name", 'vch')
    .action(async (flags: DevFlags) => {
      const logger = stderrLogger('vch-dev');
      const listen = parseListenAddress(flags.listen);
      const port = flags.port !== undefined ? Number(flags.port) : listen.port;
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new Error(`--port wants a port, not ${flags.port}`);
      const box = await startBox({
        logger,
        host: listen.host,
        port,
        name: flags.name,
        insecureRegistries: flags.insecureRegistry,
        ...(flags.withTestRegistry ? { withTestRegistry: true } : {}),
      });
      // Exactly this line, so `eval "$(vch dev | grep ^DOCKER_HOST=)"`-style scripts work.
      process.stdout.write(`DOCKER_HOST=${box.dockerHost}\n`);
      let stopping = false;
      const ended = untilSignal(() => {
        stopping = true;
        return box.stop();
      }, logger);
      // vcsim dying on its own (not by our stop) ends the box too.
      void box.sim.exited.then(async (code) => {
        if (stopping) return;
        logger.error({ code, stderr: box.sim.stderrTail().slice(-2000) }, 'vSphere simulator exited');
        await box.stop();
        process.exit(1);
      });
      await ended;
      process.exit(0);
    });
}
