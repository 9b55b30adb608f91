/**
 * Taking over a connection for attach and exec start, as dockerd's `hijack` does. The
 * CLI asks with `Connection: Upgrade` + `Upgrade: tcp`; Node hands such requests to the
 * server's `upgrade` event with the socket already detached from the HTTP parser, and
 * `server.ts` runs them through the app (`markUpgraded`), so the route can answer
 * `101 UPGRADED` and then speak raw bytes both ways — stdin in, stdout/stderr out, with TCP
 * half-close carrying stdin's EOF. A request without the Upgrade header gets dockerd's
 * older answer: 200 and the output stream until the end of the connection; its stdin is not
 * read (the socket still belongs to Node's parser), which only pre-2015 clients rely on.
 */

import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { Request, Response } from 'express';

const upgraded = new WeakSet<Request | import('node:http').IncomingMessage>();

/** Called by the server for requests that arrived through its `upgrade` event. */
export function markUpgraded(req: import('node:http').IncomingMessage): void {
  upgraded.add(req);
}

export const RAW_STREAM = 'application/vnd.docker.raw-stream';
export const MULTIPLEXED_STREAM = 'application/vnd.docker.multiplexed-stream';

export interface HijackedConnection {
  /** What the client sends (stdin); ends when it half-closes. Absent in the 200 fallback. */
  readonly input?: Readable;
  readonly output: Writable;
  /** True once the client went away (either direction closed for good). */
  readonly closed: () => boolean;
  /** Runs once when the connection goes away. */
  onClose(callback: () => void): void;
  /** Finishes the output; the socket closes when the client closes its side too. */
  end(): void;
}

export function hijack(req: Request, res: Response, contentType: string): HijackedConnection {
  if (upgraded.has(req)) {
    const socket: Socket = req.socket;
    socket.setTimeout(0);
    socket.setNoDelay(true);
    let isClosed = false;
    const callbacks: (() => void)[] = [];
    const fire = (): void => {
      if (isClosed) return;
      isClosed = true;
      for (const cb of callbacks) cb();
    };
    socket.once('close', fire);
    socket.on('error', fire);
    socket.write(
      `HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nApi-Version: ${res.getHeader('Api-Version') ?? ''}\r\n\r\n`,
    );
    return {
      input: socket,
      output: socket,
      closed: () => isClosed,
      onClose: (cb) => {
        if (isClosed) cb();
        else callbacks.push(cb);
      },
      end: () => {
        if (socket.writableEnded) return;
        // If the client already half-closed, ending ours closes the socket; otherwise the
        // client closes after reading EOF. Either way make sure it goes eventually.
        socket.end();
        setTimeout(() => socket.destroy(), 5000).unref();
      },
    };
  }
  res.useChunkedEncodingByDefault = false;
  res.shouldKeepAlive = false;
  res.writeHead(200, { 'Content-Type': contentType });
  res.flushHeaders();
  let isClosed = false;
  const callbacks: (() => void)[] = [];
  res.once('close', () => {
    isClosed = true;
    for (const cb of callbacks) cb();
  });
  return {
    output: res,
    closed: () => isClosed,
    onClose: (cb) => {
      if (isClosed) cb();
      else callbacks.push(cb);
    },
    end: () => {
      if (!res.writableEnded) res.end();
    },
  };
}

/**
 * The body of an upgrade request. Node hands over such requests with the socket detached
 * from its parser, so body-parser sees the request as finished and never reads it; exec
 * start sends its JSON (`{"Detach":false,"Tty":true}`) there, and unread it would reach the
 * process as stdin. Reads exactly Content-Length bytes (from `head`, then the socket), puts
 * back whatever follows (the client's first stdin bytes), and parses JSON bodies.
 */
export async function readUpgradeBody(
  req: import('node:http').IncomingMessage,
  socket: import('node:net').Socket,
  head: Buffer,
  limit: number,
): Promise<unknown> {
  const length = Number.parseInt(req.headers['content-length'] ?? '0', 10) || 0;
  if (length > limit) throw new Error('request body too large');
  let buffered = head;
  while (buffered.length < length) {
    const chunk = await new Promise<Buffer | null>((resolve) => {
      const onData = (d: Buffer): void => {
        cleanup();
        socket.pause();
        resolve(d);
      };
      const onEnd = (): void => {
        cleanup();
        resolve(null);
      };
      const cleanup = (): void => {
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.off('close', onEnd);
      };
      socket.on('data', onData);
      socket.once('end', onEnd);
      socket.once('close', onEnd);
      socket.resume();
    });
    if (chunk === null) break;
    buffered = Buffer.concat([buffered, chunk]);
  }
  const rest = buffered.subarray(length);
  if (rest.length > 0) socket.unshift(rest);
  const body = buffered.subarray(0, length);
  if (length === 0 || !/^application\/json\b/.test(req.headers['content-type'] ?? '')) return undefined;
  return JSON.parse(body.toString('utf8'));
}
