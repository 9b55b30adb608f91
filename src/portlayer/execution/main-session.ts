/**
 * The VCH's one attach to a container's main process. The first attach starts the process
 * in the guest, so the VCH opens it itself at `start` and fans the output out to every
 * client, to the log buffer and, through its LogSink, to the datastore's log files: a
 * client attached before the start misses nothing, and the process never depends on a
 * client's connection. A lost backchannel (VM reconnects, attach server restarted) is
 * followed by a new attach to the same process.
 */
import { randomBytes } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import type { ContainerAttachment, ContainerStdio } from '../api';
import { type Session, SessionStartError } from '../interaction/session';
import type { Tethers } from './tethers';

interface Client {
  readonly stdio: ContainerStdio;
  readonly exit: (code: number) => void;
  detached: boolean;
}

/** How long a run's Exit frame may trail the exit its VM's status shows. */
const EXIT_FRAME_GRACE_MS = 5000;

/** Output kept for `docker logs` (bounded: the newest bytes win). */
const LOG_LIMIT = 1024 * 1024;

/** One chunk of the main process's output, stamped when the VCH received it. */
export interface LogChunk {
  readonly stream: 1 | 2;
  readonly time: Date;
  readonly data: Buffer;
  /** Its place in the run (0, 1, …): which chunks a persisted copy holds already. */
  readonly seq: number;
}

/**
 * Where the output goes to outlast the VCH (log-store.ts). Called on the output path: it
 * must take the chunk and return at once, and never throw.
 */
export interface LogSink {
  kept(run: string, chunk: LogChunk): void;
  /** The run ended: everything it will ever output has been kept. */
  ended(): void;
}

export interface MainSessionOptions {
  readonly id: string;
  readonly tty: boolean;
  readonly openStdin: boolean;
  readonly stdinOnce: boolean;
  readonly tethers: Tethers;
  readonly connectTimeoutMs: number;
  /** The tty's size until the first resize. */
  readonly size?: { readonly rows: number; readonly cols: number };
  readonly sink?: LogSink;
}

export class MainSession {
  /** This run's id in the persisted logs (8 random bytes, hex). */
  readonly run = randomBytes(8).toString('hex');
  private session: Session | undefined;
  private readonly clients = new Set<Client>();
  private readonly log: LogChunk[] = [];
  private logBytes = 0;
  private nextSeq = 0;
  /** Followers of the output (`docker logs -f`), told of each chunk as it is kept. */
  private readonly logListeners = new Set<(chunk: LogChunk) => void>();
  private resolveEnded: () => void = () => {};
  /** Resolves once the process has ended and all its output was kept. */
  readonly whenEnded = new Promise<void>((resolve) => {
    this.resolveEnded = resolve;
  });
  private exitCode: number | undefined;
  private opening: Promise<void> | undefined;
  private size: { rows: number; cols: number } | undefined;
  private closed = false;
  /**
   * The clients' input on its way to the process: a client's stdin may flow (or even end)
   * before `start` opens the session, and a reconnect needs it piped to the new session.
   */
  private readonly stdin = new PassThrough();

  constructor(private readonly o: MainSessionOptions) {
    if (o.size) this.size = { rows: o.size.rows, cols: o.size.cols };
  }

  get ended(): boolean {
    return this.exitCode !== undefined;
  }

  /** The process's pid in its VM, once the session is open. */
  get pid(): number | undefined {
    return this.session?.pid;
  }

  /** Never opened nor ended: it belongs to a run that has not started yet. */
  get fresh(): boolean {
    return this.opening === undefined && this.session === undefined && this.exitCode === undefined;
  }

  /** Opens the attach (which starts the process on its first time). Rejects with SessionStartError. */
  open(): Promise<void> {
    if (!this.opening) {
      this.opening = this.connect().catch((err: unknown) => {
        this.opening = undefined;
        if (err instanceof SessionStartError) this.finish(err.exitCode, `${err.message}\n`);
        throw err;
      });
    }
    return this.opening;
  }

  /** The process ended before we were attached (seen in its VM's status): release the clients. */
  markExited(exitCode: number): void {
    this.finish(exitCode);
  }

  /**
   * The VM's status shows this run's exit. The backchannel's Exit normally comes with it; a
   * backchannel lost before its Exit (a VM that powered off first) never brings it, so the
   * status's code releases the clients, after a grace for frames still on their way.
   */
  exitedInVm(exitCode: number): void {
    if (this.exitCode !== undefined || this.fresh) return;
    if (!this.session) {
      this.finish(exitCode);
      return;
    }
    setTimeout(() => this.finish(exitCode), EXIT_FRAME_GRACE_MS).unref();
  }

  attach(stdio: ContainerStdio, size?: { rows: number; cols: number }): ContainerAttachment {
    if (size) this.resize(size.rows, size.cols);
    let resolveExit: (code: number) => void = () => {};
    const exitCode = new Promise<number>((resolve) => {
      resolveExit = resolve;
    });
    const client: Client = { stdio, exit: resolveExit, detached: false };
    if (this.exitCode !== undefined) {
      resolveExit(this.exitCode);
    } else {
      this.clients.add(client);
      if (stdio.stdin && this.o.openStdin) this.feedStdin(stdio.stdin, client);
    }
    return {
      tty: this.o.tty,
      resize: (rows, cols) => this.resize(rows, cols),
      exitCode,
      detach: () => {
        client.detached = true;
        this.clients.delete(client);
      },
    };
  }

  resize(rows: number, cols: number): void {
    this.size = { rows, cols };
    this.session?.resize(rows, cols);
  }

  /** Sends a signal to the process; false when no session is open to carry it. */
  signal(name: string): boolean {
    if (!this.session) return false;
    this.session.signal(name);
    return true;
  }

  /** The captured output, oldest first. */
  logs(): readonly LogChunk[] {
    return this.log;
  }

  /** Calls `listener` with each chunk kept from now on; returns the unsubscribe. */
  onLog(listener: (chunk: LogChunk) => void): () => void {
    this.logListeners.add(listener);
    return () => this.logListeners.delete(listener);
  }

  close(): void {
    this.closed = true;
    this.session?.close();
    this.finish(this.exitCode ?? 137);
  }

  private async connect(): Promise<void> {
    const tether = await this.o.tethers.waitFor(this.o.id, this.o.connectTimeoutMs);
    const asked = this.size;
    const session = await tether.attach(undefined, asked);
    this.session = session;
    // A resize that came while the attach was on its way is not lost.
    if (this.size && this.size !== asked) session.resize(this.size.rows, this.size.cols);
    if (this.o.openStdin) {
      // An input that ended before a reconnect has nothing left to pipe: end the new one too.
      if (this.stdin.readableEnded) session.stdin.end();
      else this.stdin.pipe(session.stdin);
    }
    this.pump(session.stdout, 1);
    this.pump(session.stderr, 2);
    session.exit.then(
      (status) => {
        // Exit follows both Eofs: every byte is out before the clients learn the end.
        void Promise.all([ended(session.stdout), ended(session.stderr)]).then(() => this.finish(status.exitCode));
      },
      () => {
        // The backchannel went; the process goes on in the VM. Attach again once it is back.
        this.stdin.unpipe(session.stdin);
        if (this.session === session) this.session = undefined;
        this.opening = undefined;
        if (!this.closed && this.exitCode === undefined) void this.open().catch(() => undefined);
      },
    );
  }

  private pump(stream: Readable, which: 1 | 2): void {
    stream.on('data', (chunk: Buffer) => {
      this.keep(which, chunk);
      for (const c of this.clients) {
        const out = which === 1 || this.o.tty ? c.stdio.stdout : c.stdio.stderr;
        out?.write(chunk);
      }
    });
  }

  private keep(stream: 1 | 2, data: Buffer): void {
    const chunk: LogChunk = { stream, time: new Date(), data, seq: this.nextSeq++ };
    this.log.push(chunk);
    this.logBytes += data.length;
    while (this.logBytes > LOG_LIMIT && this.log.length > 1) this.logBytes -= this.log.shift()!.data.length;
    for (const l of [...this.logListeners]) l(chunk);
    this.o.sink?.kept(this.run, chunk);
  }

  private feedStdin(stdin: Readable, client: Client): void {
    stdin.on('data', (chunk: Buffer) => {
      if (!client.detached && !this.stdin.writableEnded) this.stdin.write(chunk);
    });
    stdin.once('end', () => {
      // stdinOnce: the process's stdin closes with the first client's (docker run -i). Not
      // with a tty, as dockerd: there the terminal's own EOF (ctrl-d) ends input, and a
      // client that went away (detached with its keys) leaves the process its stdin.
      if (!client.detached && this.o.stdinOnce && !this.o.tty) this.stdin.end();
    });
  }

  private finish(exitCode: number, message?: string): void {
    if (this.exitCode !== undefined) return;
    this.exitCode = exitCode;
    this.o.sink?.ended();
    this.resolveEnded();
    for (const c of this.clients) {
      if (message) (this.o.tty ? c.stdio.stdout : c.stdio.stderr)?.write(message);
      c.exit(exitCode);
    }
    this.clients.clear();
  }
}

function ended(stream: Readable): Promise<void> {
  if (stream.readableEnded || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
  });
}
