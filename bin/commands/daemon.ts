import type { Command } from 'commander';
import pino, { type Logger } from 'pino';
import { KERNEL_RELEASE } from '../../src/bootstrap/pins';
import { createPersonality, type ListeningPersonality, type ListenOptions } from '../../src/personality';
import type { ContainersConfig, PortLayerConfig } from '../../src/portlayer/config';
import { type OpenPortLayer, openPortLayer } from '../../src/portlayer/portLayer';

/** Where the Docker API listens: TCP, a unix socket, or both. */
export interface DaemonListen {
  readonly tcp?: { readonly host: string; readonly port: number };
  readonly socketPath?: string;
}

export interface DaemonOptions {
  readonly portLayer: PortLayerConfig;
  readonly listen: DaemonListen;
  readonly logger: Logger;
}

/** A running VCH: its port layer and the Docker API in front of it. */
export interface RunningDaemon {
  readonly portLayer: OpenPortLayer;
  /** What DOCKER_HOST should say, one per listener: `tcp://127.0.0.1:2375`, `unix:///…`. */
  readonly addresses: readonly string[];
  /** Stops listening (ending open streams), then closes the port layer. */
  close(): Promise<void>;
}

/** `127.0.0.1:2375`, `[::1]:2375`, `:2375` or `2375` → host and port. */
export function parseListenAddress(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*))?:?(\d+)$/.exec(text.trim());
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || !Number.isInteger(port) || port > 65535) throw new Error(`--listen wants host:port, not ${text}`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

/** Opens the port layer, then serves the Docker API on every listener asked for. */
export async function startDaemon(o: DaemonOptions): Promise<RunningDaemon> {
  const portLayer = await openPortLayer({ ...o.portLayer, logger: o.portLayer.logger ?? o.logger });
  const listeners: ListeningPersonality[] = [];
  try {
    const personality = createPersonality({
      images: portLayer.images,
      system: portLayer.system,
      auth: portLayer.auth,
      ...(portLayer.containers ? { containers: portLayer.containers } : {}),
      logger: o.logger.child({ component: 'personality' }),
      serverVersion: o.portLayer.version ?? '0.1.0',
    });
    const wanted: ListenOptions[] = [
      ...(o.listen.tcp ? [{ host: o.listen.tcp.host, port: o.listen.tcp.port }] : []),
      ...(o.listen.socketPath !== undefined ? [{ socketPath: o.listen.socketPath }] : []),
    ];
    if (wanted.length === 0) throw new Error('nowhere to listen: give --listen or --socket');
    for (const w of wanted) listeners.push(await personality.listen(w));
  } catch (error) {
    await Promise.all(listeners.map((l) => l.close().catch(() => undefined)));
    await portLayer.close();
    throw error;
  }
  o.logger.info({ ...portLayer.placement, addresses: listeners.map((l) => l.address) }, 'VCH ready');
  return {
    portLayer,
    addresses: listeners.map((l) => l.address),
    async close() {
      await Promise.all(listeners.map((l) => l.close().catch(() => undefined)));
      await portLayer.close();
    },
  };
}

/** Resolves on the first SIGINT or SIGTERM, after `stop` ran (a second signal exits at once). */
export function untilSignal(stop: () => Promise<void>, logger: Logger): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      logger.info({ signal }, 'stopping');
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      // Impatient users press Ctrl-C twice: the second one is not ignored.
      process.once('SIGINT', () => process.exit(130));
      stop().then(resolve, reject);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/** Commander's accumulator for a repeatable option. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

interface DaemonFlags {
  target: string;
  user: string;
  password?: string;
  thumbprint?: string;
  insecure?: boolean;
  datacenter?: string;
  pool?: string;
  imageDatastore?: string;
  name: string;
  listen?: string;
  socket?: string;
  insecureRegistry: string[];
  registryMirror: string[];
  registryCa?: string;
  attach?: string;
}

/** `--attach host[:port]`: listen there (any free port when none) and have the VMs dial it. */
export function attachConfig(address: string): ContainersConfig {
  const m = /^(.*?)(?::(\d+))?$/.exec(address);
  const host = m?.[1] ?? '';
  if (host === '') throw new Error(`--attach ${address}: give host[:port]`);
  return { attachHost: host, ...(m?.[2] !== undefined ? { attachPort: Number(m[2]) } : {}) };
}

/** JSON lines on stderr: stdout stays free for what a script wants. */
export function stderrLogger(name: string): Logger {
  return pino({ name, level: process.env.VCH_LOG_LEVEL ?? 'info' }, pino.destination(2));
}

/** `vch daemon`: the VCH process — the Docker API over a port layer on vSphere — until Ctrl-C. */
export function registerDaemon(program: Command): void {
  program
    .command('daemon')
    .description('run a VCH: the Docker Engine API, with images on a vSphere datastore, until Ctrl-C')
    .requiredOption('--target <url>', 'vSphere endpoint, e.g. https://vcenter.example/sdk')
    .requiredOption('--user <user>', 'vSphere user')
    .option('--password <password>', 'vSphere password (default: $VCH_PASSWORD)')
    .option('--thumbprint <sha>', "pin the endpoint's certificate (SHA-1 or SHA-256)")
    .option('--insecure', "accept the endpoint's certificate unchecked")
    .option('--datacenter <path>', 'datacenter (default: the only one)')
    .option('--pool <path>', 'resource pool or cluster for container VMs (default: the only one)')
    .option('--image-datastore <path>', 'datastore for images (default: the only one)')
    .option('--name <name>', "the VCH's name: its folder on the image datastore", 'vch')
    .option('--listen <host:port>', 'Docker API on TCP (default 127.0.0.1:2375 unless --socket alone)')
    .option('--socket <path>', 'Docker API on a unix socket')
    .option('--insecure-registry <host:port>', 'registry spoken to over plain http (repeatable)', collect, [])
    .option('--registry-mirror <url>', 'mirror for docker.io (repeatable)', collect, [])
    .option('--registry-ca <file>', 'PEM CA certificates trusted for registries')
    .option(
      '--attach <host[:port]>',
      "run containers: the container VMs' serial ports dial this address of the VCH (one the ESXi hosts reach)",
    )
    .action(async (flags: DaemonFlags) => {
      const logger = stderrLogger('vch-daemon');
      const password = flags.password ?? process.env.VCH_PASSWORD;
      if (password === undefined) throw new Error('give --password or set VCH_PASSWORD');
      const listen: DaemonListen = {
        ...(flags.listen !== undefined || flags.socket === undefined
          ? { tcp: parseListenAddress(flags.listen ?? '127.0.0.1:2375') }
          : {}),
        ...(flags.socket !== undefined ? { socketPath: flags.socket } : {}),
      };
      const daemon = await startDaemon({
        logger,
        listen,
        portLayer: {
          name: flags.name,
          vsphere: {
            url: flags.target,
            username: flags.user,
            password,
            ...(flags.thumbprint !== undefined ? { thumbprint: flags.thumbprint } : {}),
            ...(flags.insecure ? { insecure: true } : {}),
          },
          ...(flags.datacenter !== undefined ? { datacenter: flags.datacenter } : {}),
          ...(flags.attach !== undefined ? { containers: attachConfig(flags.attach) } : {}),
          ...(flags.pool !== undefined ? { pool: flags.pool } : {}),
          ...(flags.imageDatastore !== undefined ? { imageDatastore: flags.imageDatastore } : {}),
          registry: {
            insecureRegistries: flags.insecureRegistry,
            mirrors: flags.registryMirror,
            ...(flags.registryCa !== undefined ? { caFile: flags.registryCa } : {}),
          },
          kernelVersion: KERNEL_RELEASE,
        },
      });
      for (const address of daemon.addresses) process.stdout.write(`DOCKER_HOST=${address}\n`);
      await untilSignal(() => daemon.close(), logger);
    });
}
