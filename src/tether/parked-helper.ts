/**
 * A tether-helper started ahead of time (`tether-helper park`, src/tether/native): its
 * stdio is already the pipes the command will use, and it waits on fd 4 for the command to
 * become. The template parks its helpers before it freezes, so a freshly restored clone runs
 * its root set-up and its main process without forking Node (~0.2 s each under TCG, the
 * event loop blocked meanwhile) — the fork was done once, in the template.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Writable } from 'node:stream';

const PARK_FD = 4;

/** Starts a parked helper; its stdin, stdout and stderr are pipes. */
export function parkHelper(helperPath: string): ChildProcess {
  const child = spawn(helperPath, ['park'], { cwd: '/', env: {}, stdio: ['pipe', 'pipe', 'pipe', 'ignore', 'pipe'] });
  child.on('error', () => {}); // seen as not usable (no pid, or exited)
  child.stdin?.on('error', () => {});
  return child;
}

/** Whether a parked helper can still take its command. */
export function isParked(child: ChildProcess | undefined): child is ChildProcess {
  return child?.pid !== undefined && child.exitCode === null && child.signalCode === null && !!child.stdio[PARK_FD];
}

/**
 * Gives a parked helper its command: the helper's arguments (`exec …`, `run …`) with this
 * environment. From here on the child is that command.
 */
export function commandParked(child: ChildProcess, env: Record<string, string>, args: readonly string[]): void {
  const strings = [...Object.entries(env).map(([k, v]) => `${k}=${v}`), '', ...args];
  const control = child.stdio[PARK_FD] as Writable;
  control.on('error', () => {});
  control.end(Buffer.from(strings.map((s) => `${s}\0`).join(''), 'utf8'));
}
