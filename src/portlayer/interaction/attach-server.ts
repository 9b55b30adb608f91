import { EventEmitter } from 'node:events';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { TetherClient } from './tether-client';

/** Where the attach server listens: a unix socket or a TCP port (the VMs' serial URI). */
export type AttachServerAddress = { path: string } | { host?: string; port: number };

/**
 * Accepts the container VMs' backchannel connections and keys each by the VM id in its
 * hello. A VM that connects again (its serial port reconnects, or the VCH restarted)
 * replaces its older connection.
 */
export class AttachServer {
  private readonly server: Server;
  private readonly clients = new Map<string, TetherClient>();
  private readonly events = new EventEmitter();
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly helloTimeoutMs: number) {
    this.server = createServer((socket) => this.accept(socket));
  }

  static async listen(address: AttachServerAddress, helloTimeoutMs = 10_000): Promise<AttachServer> {
    const s = new AttachServer(helloTimeoutMs);
    await new Promise<void>((resolve, reject) => {
      s.server.once('error', reject);
      s.server.listen(address, () => {
        s.server.off('error', reject);
        resolve();
      });
    });
    return s;
  }

  /** The unix socket path, or the TCP address actually bound (port 0 picks one). */
  address(): string | AddressInfo {
    const a = this.server.address();
    if (a === null) throw new Error('attach server is not listening');
    return a;
  }

  /** The live connection of a VM, if it has one. */
  get(vmId: string): TetherClient | undefined {
    const c = this.clients.get(vmId);
    return c && !c.closed ? c : undefined;
  }

  /** Resolves with the VM's connection as soon as it has one. */
  waitFor(vmId: string, timeoutMs = 30_000): Promise<TetherClient> {
    const existing = this.get(vmId);
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve, reject) => {
      const onTether = (client: TetherClient) => {
        if (client.vmId !== vmId) return;
        clearTimeout(timer);
        this.events.off('tether', onTether);
        resolve(client);
      };
      const timer = setTimeout(() => {
        this.events.off('tether', onTether);
        reject(new Error(`no backchannel from VM ${vmId} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.events.on('tether', onTether);
    });
  }

  /** Called for every VM that says hello. */
  onTether(handler: (client: TetherClient) => void): void {
    this.events.on('tether', handler);
  }

  async close(): Promise<void> {
    for (const c of this.clients.values()) c.close();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.setNoDelay?.(true);
    TetherClient.accept(socket, this.helloTimeoutMs).then(
      (client) => {
        const previous = this.clients.get(client.vmId);
        this.clients.set(client.vmId, client);
        if (previous && previous !== client) previous.close();
        client.onClose(() => {
          if (this.clients.get(client.vmId) === client) this.clients.delete(client.vmId);
        });
        this.events.emit('tether', client);
      },
      () => {
        // A peer that never said hello properly: already disconnected, nothing to keep.
      },
    );
  }
}
