/**
 * The tether's entry point: `node main.js --connect ADDR --spec FILE [--root DIR] [--helper PATH]`.
 * In a VM the spec will come from guestinfo and ADDR will be the virtio-serial port; on the
 * host (tests, bench) a JSON file and a unix socket stand in for them.
 */
import { join } from 'node:path';
import { JsonFileSpecSource } from './spec-source';
import { runTether } from './tether';
import { parseTransportAddress } from './transport';

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

async function main(args: string[]): Promise<void> {
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
    log: (m) => process.stderr.write(`tether: ${m}\n`),
  });
  // Let the last frames (Eof, Exit) reach the VCH before the process goes.
  setTimeout(() => process.exit(status.exitCode), 100);
}

main(process.argv.slice(2)).catch((err: Error) => {
  process.stderr.write(`tether: ${err.message}\n`);
  process.exit(1);
});
