/** The VM's own chores that need syscalls Node lacks, through the helper. */
import type { ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { runHelper } from '../parked-helper';
import type { Step } from './rootfs';

/**
 * A clone's RAM is its template's, random pool included, and its clock is the template's
 * until set: the VCH's fresh seed (credited with RNDADDENTROPY) and its time at cloning.
 * Values that do not parse are skipped: a container with a weak seed or a wrong clock
 * still runs, and says so.
 */
export function cloneSteps(seedHex: string | undefined, clockMs: string | undefined, log: (m: string) => void): Step[] {
  const steps: Step[] = [];
  if (clockMs && /^\d+$/.test(clockMs)) steps.push(['settime', clockMs]);
  else log('no usable guestinfo.vch.clock: the clock stays the template’s');
  if (seedHex && /^([0-9a-fA-F]{2}){1,512}$/.test(seedHex)) steps.push(['reseed', seedHex]);
  else log('no usable guestinfo.vch.seed: the random pool is not reseeded');
  return steps;
}

/**
 * sync and power off; never returns (PID 1's tree must not just exit: the kernel would panic).
 * A helper parked in the template does it without forking Node (~0.2 s under TCG).
 */
export async function powerOff(helperPath: string, log: (m: string) => void, parked?: ChildProcess): Promise<never> {
  try {
    await runHelper(helperPath, ['poweroff'], parked);
  } catch (err) {
    log(`poweroff: ${(err as Error).message}`);
  }
  // The last resort that needs no helper (also reached if reboot(2) returned).
  await writeFile('/proc/sysrq-trigger', 'o').catch(() => undefined);
  return new Promise<never>(() => {});
}
