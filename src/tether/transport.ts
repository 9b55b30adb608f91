import { createReadStream, createWriteStream, openSync } from 'node:fs';
import { connect } from 'node:net';
import { Duplex } from 'node:stream';

/**
 * Where the backchannel is: `unix:/path` or `tcp:host:port` on the host (tests, the
 * simulator's dev mode), `file:/dev/vport0p1` in a VM (the virtio-serial port).
 */
export type TransportAddress =
  | { kind: 'unix'; path: string }
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'file'; path: string };

export function parseTransportAddress(text: string): TransportAddress {
  if (text.startsWith('unix:')) return { kind: 'unix', path: text.slice(5) };
  if (text.startsWith('file:')) return { kind: 'file', path: text.slice(5) };
  const m = /^tcp:(.+):([0-9]+)$/.exec(text);
  if (m) return { kind: 'tcp', host: m[1], port: Number(m[2]) };
  throw new Error(`bad backchannel address ${text} (unix:/path, tcp:host:port, file:/dev/…)`);
}

/** Opens the transport; resolves once it is usable. */
export function openTransport(address: TransportAddress): Promise<Duplex> {
  if (address.kind === 'file') {
    // A character device is read and written through one descriptor.
    const fd = openSync(address.path, 'r+');
    const readable = createReadStream('', { fd, autoClose: false, highWaterMark: 64 * 1024 });
    const writable = createWriteStream('', { fd, autoClose: false });
    return Promise.resolve(Duplex.from({ readable, writable }));
  }
  return new Promise((resolve, reject) => {
    const socket =
      address.kind === 'unix' ? connect({ path: address.path }) : connect({ host: address.host, port: address.port });
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.setNoDelay?.(true);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}
