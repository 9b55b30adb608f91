/**
 * Joining a hijacked connection to a process's stdio, shared by attach and exec start:
 * which streams the client asked for, raw bytes with a tty and stdcopy frames without, and
 * stdin's EOF (the client's half-close) passed on as EOF.
 */

import { PassThrough, type Writable } from 'node:stream';
import type { ContainerStdio } from '../../portlayer/api';
import type { HijackedConnection } from './hijack';
import { frame, framingWriter, rawWriter } from './stdcopy';

export interface StreamChoice {
  readonly tty: boolean;
  readonly stdin: boolean;
  readonly stdout: boolean;
  readonly stderr: boolean;
}

export interface JoinedStreams {
  readonly stdio: ContainerStdio;
  /** The writers (for replaying logs before the live output). */
  readonly out: Writable;
  readonly err: Writable;
  /** Reports a failure in band: a stdcopy system-error frame, or text with a tty. */
  writeError(message: string): void;
}

export function joinStreams(conn: HijackedConnection, choice: StreamChoice): JoinedStreams {
  const out = choice.tty ? rawWriter(conn.output) : framingWriter(conn.output, 1);
  // With a tty the terminal merged stderr into stdout already; anything still sent goes there.
  const err = choice.tty ? out : framingWriter(conn.output, 2);
  let stdin: PassThrough | undefined;
  if (choice.stdin && conn.input !== undefined) {
    stdin = new PassThrough();
    conn.input.pipe(stdin);
  } else {
    // Drain what the client sends anyway, so its half-close is seen and the socket can close.
    conn.input?.resume();
  }
  return {
    stdio: {
      ...(stdin !== undefined ? { stdin } : {}),
      ...(choice.stdout ? { stdout: out } : {}),
      // Not with a tty: the terminal merged stderr into stdout, and a port layer that pipes
      // its (at once ended) stderr into this same writer would end stdout with it.
      ...(choice.stderr && !choice.tty ? { stderr: err } : {}),
    },
    out,
    err,
    writeError(message) {
      if (conn.output.writableEnded || conn.output.destroyed) return;
      const text = Buffer.from(`${message}\n`);
      conn.output.write(choice.tty ? text : frame(3, text));
    },
  };
}
