/**
 * Joining a hijacked connection to a process's stdio, shared by attach and exec start:
 * which streams the client asked for, raw bytes with a tty and stdcopy frames without,
 * stdin's EOF (the client's half-close), and with a tty the detach keys.
 */

import { PassThrough, type Writable } from 'node:stream';
import type { ContainerStdio } from '../../portlayer/api';
import { DetachSequence } from './detach-keys';
import type { HijackedConnection } from './hijack';
import { frame, framingWriter, rawWriter } from './stdcopy';

export interface StreamChoice {
  readonly tty: boolean;
  readonly stdin: boolean;
  readonly stdout: boolean;
  readonly stderr: boolean;
  /** With a tty and stdin: the key sequence that detaches the client (parseDetachKeys). */
  readonly detachKeys?: Buffer;
  /**
   * Whether the client's stdin EOF ends its attach rather than the process's input, as
   * dockerd's attach does unless the stream is StdinOnce without a tty: the process keeps
   * its stdin open for the next client.
   */
  readonly detachOnStdinEnd?: boolean;
}

export interface JoinedStreams {
  readonly stdio: ContainerStdio;
  /** The writers (for replaying logs before the live output). */
  readonly out: Writable;
  readonly err: Writable;
  /** Reports a failure in band: a stdcopy system-error frame, or text with a tty. */
  writeError(message: string): void;
  /**
   * Ties the process's attachment to this client: detached when the connection goes, or
   * when the client detaches (the detach keys, whose bytes never reach the process, or with
   * `detachOnStdinEnd` its stdin's end), which also ends the connection. The process goes on.
   */
  hold(attachment: { detach(): void }): void;
}

export function joinStreams(conn: HijackedConnection, choice: StreamChoice): JoinedStreams {
  const out = choice.tty ? rawWriter(conn.output) : framingWriter(conn.output, 1);
  // With a tty the terminal merged stderr into stdout already; anything still sent goes there.
  const err = choice.tty ? out : framingWriter(conn.output, 2);
  let stdin: PassThrough | undefined;
  // The client may detach before the attachment exists (keys typed early): kept until hold().
  let held: { detach(): void } | undefined;
  let detached = false;
  const detach = (): void => {
    if (detached) return;
    detached = true;
    held?.detach();
    conn.end();
  };
  if (choice.stdin && conn.input !== undefined) {
    stdin = new PassThrough();
    const input = conn.input;
    if (choice.tty && choice.detachKeys && choice.detachKeys.length > 0) {
      // Docker watches for them with a tty only: without one, stdin may be any binary data.
      const keys = new DetachSequence(choice.detachKeys);
      keys.once('detach', detach);
      input.pipe(keys).pipe(stdin, { end: !choice.detachOnStdinEnd });
    } else {
      input.pipe(stdin, { end: !choice.detachOnStdinEnd });
    }
    if (choice.detachOnStdinEnd) input.once('end', detach);
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
    hold(attachment) {
      held = attachment;
      if (detached) attachment.detach();
      conn.onClose(() => attachment.detach());
    },
  };
}
