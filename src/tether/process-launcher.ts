import { type ChildProcess, spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { Duplex, Readable, Writable } from 'node:stream';
import { buildEnvironment } from './environment';
import { commandParked, isParked } from './parked-helper';
import { ExecError, fsProbe, lookPath } from './path-lookup';
import type { ExitStatus, ProcessSpec } from './protocol/messages';
import { dockerExitCode, signalName } from './signals';
import { resolveUserInRoot, UserError } from './user';

/** A running container process, whichever way its stdio is wired. */
export interface LaunchedProcess {
  readonly pid: number;
  readonly tty: boolean;
  readonly stdin: Writable;
  /** With a tty, the terminal's output (stdout and stderr merged, as Docker does). */
  readonly stdout: Readable;
  readonly stderr: Readable | null;
  resize(rows: number, cols: number): void;
  signal(signal: number): void;
  /** Resolves when the process has exited; its output may still be draining. */
  readonly exited: Promise<ExitStatus>;
}

export interface LauncherOptions {
  /** The container's root as the tether sees it: passwd, group and PATH are read there. */
  rootDir: string;
  /** The tether-helper binary (src/tether/native): pseudo-terminals, supplementary groups. */
  helperPath: string;
  /**
   * Run processes inside rootDir (the helper chroots): a VM's container root. Without it
   * (on the host: tests, bench) rootDir only supplies the image's passwd, group and PATH.
   */
  chroot?: boolean;
  /**
   * A parked helper (parked-helper.ts) to become the first rooted process without a tty
   * instead of a new spawn; called once per such launch, it may return none.
   */
  parked?: () => ChildProcess | undefined;
}

export type Launcher = (spec: ProcessSpec) => Promise<LaunchedProcess>;

/**
 * Starts a process as Docker would: user resolved in the image, Docker's environment
 * defaults, the executable looked up in PATH first (for Docker's error message), then a
 * plain spawn with pipes, or the helper when a tty or supplementary groups are needed.
 */
export function createLauncher(options: LauncherOptions): Launcher {
  return async (spec) => {
    const tty = spec.tty === true;
    let user: ReturnType<typeof resolveUserInRoot>;
    try {
      user = resolveUserInRoot(spec.user, options.rootDir);
    } catch (err) {
      if (err instanceof UserError) throw new ExecError(err.message, 126);
      throw err;
    }
    const env = buildEnvironment(spec.env, user, tty);
    const cwd = spec.cwd || '/';
    if (!isDirectory(options.rootDir, cwd)) {
      throw new ExecError(`chdir to cwd ("${cwd}") set in config.json failed: no such file or directory`, 126);
    }
    const file = lookPath(spec.argv[0], env.PATH, cwd, fsProbe(options.rootDir));
    // In a VM the container's root is a mount beside the tether's own files: the helper
    // chroots into it and changes to cwd there, so the tether itself keeps its view.
    const rooted = options.chroot === true && options.rootDir !== '/';
    const place = rooted ? ['-r', options.rootDir, '-d', cwd] : [];
    const spawnCwd = rooted ? '/' : cwd;
    if (tty) return launchOnPty(options.helperPath, file, spec, user, env, spawnCwd, place);
    if (rooted || user.groups.length > 0) {
      const args = ['exec', ...place, ...credentialArgs(user), '--', file, ...spec.argv];
      const parked = rooted ? options.parked?.() : undefined;
      if (isParked(parked)) {
        commandParked(parked, env, args);
        return wrapPipes(parked);
      }
      return wrapPipes(await spawned(spawn(options.helperPath, args, { cwd: spawnCwd, env, stdio: 'pipe' })));
    }
    const child = spawn(file, spec.argv.slice(1), {
      argv0: spec.argv[0],
      cwd,
      env,
      uid: user.uid,
      gid: user.gid,
      stdio: 'pipe',
    });
    return wrapPipes(await spawned(child));
  };
}

function credentialArgs(user: { uid: number; gid: number; groups: number[] }): string[] {
  const args = ['-u', String(user.uid), '-g', String(user.gid)];
  if (user.groups.length > 0) args.push('-G', user.groups.join(','));
  return args;
}

function isDirectory(root: string, dir: string): boolean {
  try {
    return statSync(root === '/' ? dir : join(root, dir)).isDirectory();
  } catch {
    return false;
  }
}

/** Waits for 'spawn' or 'error', so that a failed exec is an exception, not an event. */
function spawned(child: ChildProcess): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    child.once('spawn', () => resolve(child));
    child.once('error', (err: NodeJS.ErrnoException) => {
      const code = err.code === 'ENOENT' ? 127 : 126;
      reject(new ExecError(`exec: ${err.message}`, code));
    });
  });
}

function exitOf(child: ChildProcess): Promise<ExitStatus> {
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      const status: ExitStatus = { exitCode: dockerExitCode(code, signal) };
      if (signal) status.signal = signal;
      resolve(status);
    });
  });
}

function wrapPipes(child: ChildProcess): LaunchedProcess {
  const stdin = child.stdin!;
  // The process may exit without reading its input: that is not the tether's error.
  stdin.on('error', () => {});
  return {
    pid: child.pid!,
    tty: false,
    stdin,
    stdout: child.stdout!,
    stderr: child.stderr!,
    resize: () => {},
    signal: (signal) => {
      child.kill(signal);
    },
    exited: exitOf(child),
  };
}

async function launchOnPty(
  helperPath: string,
  file: string,
  spec: ProcessSpec,
  user: { uid: number; gid: number; groups: number[] },
  env: Record<string, string>,
  cwd: string,
  place: string[],
): Promise<LaunchedProcess> {
  const size = `${spec.rows || 24},${spec.cols || 80}`;
  const args = ['pty', ...place, ...credentialArgs(user), '-s', size, '--', file, ...spec.argv];
  const helper = await spawned(spawn(helperPath, args, { cwd, env, stdio: ['pipe', 'pipe', 'pipe', 'pipe'] }));
  const control = helper.stdio[3] as Duplex;
  control.on('error', () => {});
  helper.stdin!.on('error', () => {});
  const exited = exitOf(helper); // the helper exits as the command did
  const pid = await readHelperStart(control, helper, spec.argv[0]);
  return {
    pid,
    tty: true,
    stdin: helper.stdin!,
    stdout: helper.stdout!,
    stderr: null,
    resize: (rows, cols) => {
      if (!control.destroyed) control.write(`W ${rows} ${cols}\n`);
    },
    signal: (signal) => {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone: its exit is on its way
      }
    },
    exited,
  };
}

/** The helper's first control line: "P <pid>" once exec'd, "E <errno>" if exec failed. */
function readHelperStart(control: Readable, helper: ChildProcess, argv0: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      const nl = text.indexOf('\n');
      if (nl < 0) return;
      control.off('data', onData);
      const [kind, value] = text.slice(0, nl).split(' ');
      if (kind === 'P') resolve(Number(value));
      else {
        const errno = Number(value);
        // errno numbers are Linux's: ENOENT 2, EACCES 13.
        if (errno === 2) reject(new ExecError(`exec: "${argv0}": executable file not found in $PATH`, 127));
        else reject(new ExecError(`exec: "${argv0}": ${errnoText(errno)}`, 126));
      }
    };
    control.on('data', onData);
    helper.once('exit', (code, signal) => {
      reject(new ExecError(`exec: "${argv0}": tether-helper exited (${signal ?? code})`, 126));
    });
  });
}

function errnoText(errno: number): string {
  return errno === 13 ? 'permission denied' : `error ${errno}`;
}

export { ExecError, signalName };
