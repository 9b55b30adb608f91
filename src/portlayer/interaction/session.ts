import type { Readable, Writable } from 'node:stream';
import type { ExitStatus } from '../../tether/protocol/messages';

/** Streams to wire to a session as it opens (e.g. a hijacked Docker API connection's). */
export interface SessionStdio {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
}

/** A process in a container VM as the VCH sees it: its stdio, its controls, its end. */
export interface Session {
  readonly pid: number;
  readonly tty: boolean;
  /** End it to half-close the process's stdin. */
  readonly stdin: Writable;
  readonly stdout: Readable;
  /** Ends at once with a tty (the terminal merges stderr into stdout). */
  readonly stderr: Readable;
  resize(rows: number, cols: number): void;
  /** A signal by name ("TERM", "SIGKILL") or number ("15"). */
  signal(name: string): void;
  /** Docker's exit code: the process's own, or 128 + n after signal n. */
  readonly exitCode: Promise<number>;
  readonly exit: Promise<ExitStatus>;
  /** Stops listening to the session; the process goes on. */
  close(): void;
}

/** The process did not start: `exitCode` is what Docker reports (127 for a missing executable). */
export class SessionStartError extends Error {
  override name = 'SessionStartError';
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** The backchannel went away before the process's exit was known. */
export class TetherGoneError extends Error {
  override name = 'TetherGoneError';
}
