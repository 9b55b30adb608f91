import type { Readable, Writable } from 'node:stream';
import { ExecError } from './path-lookup';
import type { LaunchedProcess, Launcher } from './process-launcher';
import type { ExitStatus, ProcessSpec } from './protocol/messages';

/** One attach: where the main process's output goes and where its input comes from. */
export interface Attachment {
  stdout: Writable;
  stderr: Writable;
  stdin: Readable;
}

/**
 * The container's main process. It outlives any one backchannel connection (the VCH may
 * restart and attach again), starts on the first attach so no early output is lost, and
 * fans its output out to every attachment. A slow attachment slows the process, as
 * Docker's attach does; the VCH's own log-capturing attach is expected to keep up.
 */
export class MainProcess {
  private started: Promise<LaunchedProcess> | undefined;
  private status: ExitStatus | undefined;
  private readonly exitWaiters: Array<(s: ExitStatus) => void> = [];
  /** Why the process could not start (Docker's message), when it could not. */
  failure: string | undefined;

  constructor(
    readonly spec: ProcessSpec,
    private readonly launcher: Launcher,
    /** Told the pid once the process runs (the VM reports it as status `running`). */
    private readonly onStarted: (pid: number) => void = () => {},
    /** Docker's OpenStdin: without it no attach feeds the process. */
    private readonly openStdin = true,
  ) {}

  /** Starts the process if need be; rejects (with ExecError) if it cannot start. */
  async attach(a: Attachment): Promise<LaunchedProcess> {
    this.started ??= this.start();
    const proc = await this.started;
    if (this.status) {
      a.stdout.end();
      a.stderr.end();
      return proc;
    }
    proc.stdout.pipe(a.stdout);
    if (proc.stderr) proc.stderr.pipe(a.stderr);
    else a.stderr.end();
    if (this.openStdin) a.stdin.pipe(proc.stdin);
    return proc;
  }

  /** Stops feeding an attachment that went away (its output is no longer wanted). */
  detach(a: Attachment, proc: LaunchedProcess): void {
    proc.stdout.unpipe(a.stdout);
    proc.stderr?.unpipe(a.stderr);
    a.stdin.unpipe(proc.stdin);
  }

  /** Resolves with the exit status once the process has exited. */
  exited(): Promise<ExitStatus> {
    if (this.status) return Promise.resolve(this.status);
    return new Promise((resolve) => this.exitWaiters.push(resolve));
  }

  private async start(): Promise<LaunchedProcess> {
    let proc: LaunchedProcess;
    try {
      proc = await this.launcher(this.spec);
    } catch (err) {
      // A main process that cannot start is a container that exited (127 when not found).
      const exitCode = err instanceof ExecError ? err.exitCode : 126;
      this.failure = (err as Error).message;
      setImmediate(() => this.finish({ exitCode }));
      throw err;
    }
    proc.exited.then((status) => this.finish(status));
    // No input, as Docker's container without -i: a reader sees end of file at once. A
    // terminal stays open (ending the pty's input would hang it up).
    if (!this.openStdin && !proc.tty) proc.stdin.end();
    this.onStarted(proc.pid);
    return proc;
  }

  private finish(status: ExitStatus): void {
    this.status = status;
    for (const w of this.exitWaiters.splice(0)) w(status);
  }
}
