import type { Command } from 'commander';
import pino from 'pino';
import { startHostAgent } from '../../src/simulator/hostagent';
import { ensureSimulatorBinary } from '../../src/simulator/vcsim/build';
import { type SimulatorOptions, startSimulator } from '../../src/simulator/vcsim/process';

interface SimFlags {
  listen: string;
  port: string;
  tls: boolean;
  username?: string;
  password?: string;
  datacenters: string;
  clusters: string;
  hostsPerCluster: string;
  standaloneHosts: string;
  vms: string;
  datastores: string;
  portgroups: string;
  datastoreDir?: string;
  autostart: boolean;
  buildOnly?: boolean;
  verbose?: boolean;
  hostAgent: boolean;
}

function count(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} wants a whole number, not ${value}`);
  return n;
}

/** `vch sim`: run the vCenter simulator (vcsim with InstantClone_Task) until Ctrl-C. */
export function registerSim(program: Command): void {
  program
    .command('sim')
    .description('run the vSphere simulator (govmomi vcsim with InstantClone_Task) until Ctrl-C')
    .option('--listen <addr>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port (0 picks a free one)', '0')
    .option('--no-tls', 'serve plain HTTP instead of HTTPS with a fresh self-signed certificate')
    .option('--username <user>', 'enforced login user (default: any non-empty user and password)')
    .option('--password <pass>', 'enforced login password')
    .option('--datacenters <n>', 'datacenters', '1')
    .option('--clusters <n>', 'clusters per datacenter', '1')
    .option('--hosts-per-cluster <n>', 'hosts per cluster', '3')
    .option('--standalone-hosts <n>', 'standalone hosts per datacenter', '1')
    .option('--vms <n>', 'about this many VMs in all', '4')
    .option('--datastores <n>', 'local datastores per datacenter', '1')
    .option('--portgroups <n>', 'distributed port groups per datacenter', '1')
    .option('--datastore-dir <dir>', "folder for the datastores' folders, kept on exit (default: a temp dir)")
    .option('--no-autostart', "leave the model's VMs powered off")
    .option('--build-only', 'build (or find in the cache) the simulator binary, print its path and exit')
    .option('--verbose', "show vcsim's own log on stderr")
    .option('--no-host-agent', 'do not run powered-on VMs that have a bootstrap CD under qemu')
    .action(async (flags: SimFlags) => {
      // Progress as JSON lines on stderr; stdout is for what a human or a script wants.
      const logger = pino({ name: 'vch-sim' }, pino.destination(2));
      const log = (msg: string) => logger.info(msg);
      if (flags.buildOnly) {
        process.stdout.write(`${await ensureSimulatorBinary({ log })}\n`);
        return;
      }
      const opts: SimulatorOptions = {
        listen: flags.listen,
        port: count('port', flags.port),
        tls: flags.tls,
        username: flags.username,
        password: flags.password,
        datacenters: count('datacenters', flags.datacenters),
        clusters: count('clusters', flags.clusters),
        hostsPerCluster: count('hosts-per-cluster', flags.hostsPerCluster),
        standaloneHosts: count('standalone-hosts', flags.standaloneHosts),
        vms: count('vms', flags.vms),
        datastores: count('datastores', flags.datastores),
        portgroups: count('portgroups', flags.portgroups),
        datastoreDir: flags.datastoreDir,
        autostart: flags.autostart,
        quiet: !flags.verbose,
        onStderr: flags.verbose ? (chunk) => process.stderr.write(chunk) : undefined,
        log,
      };
      const sim = await startSimulator(opts);
      // The box's hypervisor: powered-on VMs with a bootstrap CD run under qemu.
      const agent = flags.hostAgent
        ? await startHostAgent({
            connect: { url: sim.url, username: sim.username, password: sim.password, thumbprint: sim.thumbprint },
            datastores: sim.datastores,
            log: logger.child({ component: 'hostagent' }),
          }).catch(async (err: unknown) => {
            await sim.stop();
            throw err;
          })
        : undefined;
      const lines = [
        `vSphere simulator ready (${sim.vms} VMs on ${sim.hosts} hosts, started in ${sim.startupMs} ms)`,
        `  url:        ${sim.url}`,
        ...(sim.thumbprint ? [`  thumbprint: ${sim.thumbprint}`, `  sha-256:    ${sim.thumbprintSha256}`] : []),
        `  login:      ${sim.username} / ${sim.password}`,
        ...sim.datastores.map((d) => `  datastore:  [${d.name}] (${d.datacenter}) ${d.path}`),
        `  host agent: ${agent ? `on (state in ${agent.stateDir})` : 'off'}`,
        'Ctrl-C to stop.',
      ];
      process.stdout.write(`${lines.join('\n')}\n`);

      // Ctrl-C reaches vcsim too (same process group); stop() then just waits for it.
      const shutdown = () => {
        void (agent?.stop() ?? Promise.resolve())
          .catch(() => undefined)
          .then(() => sim.stop())
          .then(() => process.exit(0));
      };
      process.once('SIGINT', shutdown);
      process.once('SIGTERM', shutdown);
      const code = await sim.exited;
      await agent?.stop().catch(() => undefined);
      if (code !== 0) {
        throw new Error(`vcsim exited (${code}): ${sim.stderrTail().trim().split('\n').slice(-5).join('\n')}`);
      }
    });
}
