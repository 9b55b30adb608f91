/**
 * The host end of a VM's guestinfo port (protocol in docs/guestinfo.md). The agent listens
 * on a unix socket before qemu starts and qemu's chardev connects to it, so no guest line
 * can arrive before someone is there to answer it.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { encodeReply, type GuestInfoReply, parseRequest } from '../../tether/guestinfo';

export interface GuestInfoHandler {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
  /** The guest asks to be frozen; its reply, if any, is sent later with `reply()`. */
  freeze(): Promise<void>;
}

export interface GuestInfoEndpoint {
  /** Sends a reply the protocol left open (the answer to `freeze`, sent in the restored clone). */
  reply(r: GuestInfoReply): void;
  /** Resolves at the first request line the guest sends (clone-to-guestinfo timing). */
  readonly firstRequest: Promise<number>;
  close(): Promise<void>;
}

export async function listenGuestInfo(
  socketPath: string,
  handler: GuestInfoHandler,
  onError: (err: unknown) => void,
): Promise<GuestInfoEndpoint> {
  let conn: Socket | undefined;
  const early: string[] = [];
  let markFirst: (t: number) => void = () => {};
  const firstRequest = new Promise<number>((resolve) => {
    markFirst = resolve;
  });
  const write = (line: string) => {
    if (conn && !conn.destroyed) conn.write(line);
    else early.push(line);
  };
  const server: Server = createServer((socket) => {
    // One qemu, one connection; a second one (there should be none) replaces the first.
    conn?.destroy();
    conn = socket;
    socket.on('error', onError);
    for (const line of early.splice(0)) socket.write(line);
    // Requests are answered strictly in order: the guest matches replies to its FIFO of calls.
    let chain = Promise.resolve();
    const lines = createInterface({ input: socket, crlfDelay: Number.POSITIVE_INFINITY });
    // readline re-emits the socket's errors, already reported above: unhandled, they would throw.
    lines.on('error', () => undefined);
    lines.on('line', (line) => {
      markFirst(Date.now());
      chain = chain.then(() => serve(line, handler).then((reply) => reply && write(encodeReply(reply))));
    });
  });
  server.on('error', onError);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    reply: (r) => write(encodeReply(r)),
    firstRequest,
    close: () =>
      new Promise<void>((resolve) => {
        conn?.destroy();
        server.close(() => resolve());
      }),
  };
}

/** One request line to its reply; undefined when the reply is deferred (freeze). */
async function serve(line: string, handler: GuestInfoHandler): Promise<GuestInfoReply | undefined> {
  try {
    const r = parseRequest(line);
    switch (r.op) {
      case 'get':
        return { ok: true, value: (await handler.get(r.key)) ?? null };
      case 'set':
        await handler.set(r.key, r.value);
        return { ok: true, value: null };
      case 'freeze':
        await handler.freeze();
        return undefined;
    }
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}
