/**
 * A tether-helper started ahead of time (`tether-helper park`, src/tether/native): its
 * stdio is already the pipes the command will use, and it waits on fd 4 for the command to
 * become. The template parks its helpers before it freezes, so a freshly restored clone runs
 * its root set-up and its main process without forking Node (~0.2 s each under TCG, the
 * event loop blocked meanwhile) — the fork was done once, in the template.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
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
  const command = Buffer.from(strings.map((s) => `${s}\0`).join(''), 'utf8');
  const control = child.stdio[PARK_FD] as Writable;
  control.on('error', () => {});
  // Length first: the helper starts once it has the bytes, not when the pipe closes.
  control.end(Buffer.concat([Buffer.from(`${command.length}\n`), command]));
}

/**
 * Runs one helper command to its end: in `parked` when it can still take one (no fork of
 * Node), else as a new process. Resolves with its stdout; rejects with its stderr.
 */
export function runHelper(helperPath: string, args: readonly string[], parked?: ChildProcess): Promise<string> {
  if (isParked(parked)) {
    return new Promise((resolve, reject) => {
      let stdout = '';
      let stderr = '';
      parked.stdout?.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
      });
      parked.stderr?.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
      });
      parked.once('close', (code, signal) => {
        if (code === 0) resolve(stdout);
        else reject(new Error(stderr.trim() || `tether-helper ${args[0]}: ${signal ?? code}`));
      });
      parked.stdin?.end();
      commandParked(parked, {}, args);
    });
  }
  return new Promise((resolve, reject) => {
    execFile(helperPath, [...args], (err, stdout, stderr) => {
      if (err) reject(new Error(stderr.trim() || err.message));
      else resolve(stdout);
    });
  });
}
