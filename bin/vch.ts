import { Command } from 'commander';
import { registerBootstrap } from './commands/bootstrap';
import { registerDaemon } from './commands/daemon';
import { registerDev } from './commands/dev';
import { registerSim } from './commands/sim';

const program = new Command('vch').description('Virtual Container Host: Docker on vSphere, a VM per container');
registerDev(program);
registerDaemon(program);
registerSim(program);
registerBootstrap(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`vch: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
