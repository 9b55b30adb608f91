/**
 * The tether's entry point.
 *   - no arguments: a container VM's init (started by the bootstrap image's /init): spec,
 *     disks and backchannel come from the VM (src/tether/vm/boot.ts);
 *   - `--connect ADDR --spec FILE [--root DIR] [--helper PATH]`: on the host (tests, bench),
 *     a JSON file and a unix socket stand in for guestinfo and the virtio-serial port.
 */
import { join } from 'node:path';
import { JsonFileSpecSource } from './spec-source';
import { runTether } from './tether';
import { parseTransportAddress } from './transport';
import { runVm } from './vm/boot';
import { powerOff } from './vm/system';

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

const log = (m: string): void => {
  process.stderr.write(`tether: ${m}\n`);
};

async function host(args: string[]): Promise<void> {
  const connect = option(args, '--connect');
  const specPath = option(args, '--spec');
  if (!connect || !specPath) {
    process.stderr.write('usage: tether --connect unix:/path|tcp:host:port|file:/dev/… --spec FILE\n');
    process.exit(2);
  }
  const status = await runTether({
    spec: new JsonFileSpecSource(specPath),
    transport: parseTransportAddress(connect),
    rootDir: option(args, '--root') ?? '/',
    helperPath: option(args, '--helper') ?? join(__dirname, 'tether-helper'),
    log,
  });
  // runTether resolved once an attached VCH had the Exit: nothing is left to send.
  process.exit(status.exitCode);
}

const args = process.argv.slice(2);
if (args.length === 0) {
  const helperPath = join(__dirname, 'tether-helper');
  // In a VM nothing may end the tether's process: whatever escapes powers the VM off.
  const fatal = (err: unknown): void => {
    log(`fatal: ${(err as Error)?.stack ?? String(err)}`);
    void powerOff(helperPath, log);
  };
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
  void runVm({ helperPath, log }).catch(fatal);
} else {
  host(args).catch((err: Error) => {
    log(err.message);
    process.exit(1);
  });
}
