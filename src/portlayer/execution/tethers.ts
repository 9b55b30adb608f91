/**
 * The backchannel connections of container VMs, by container id. The hello names the VM
 * (`vmId`) and, from a container's tether, the container (`containerId`): either may carry
 * the id. Follows a replaced attach server (a restarted one: VMs reconnect to it).
 */
import type { AttachServer } from '../interaction/attach-server';
import type { TetherClient } from '../interaction/tether-client';

export class Tethers {
  private readonly clients = new Map<string, TetherClient>();
  private readonly waiters = new Map<string, Set<(c: TetherClient) => void>>();
  private readonly cancels = new Set<() => void>();

  constructor(server: AttachServer) {
    this.use(server);
  }

  /** Takes connections from this attach server from now on. */
  use(server: AttachServer): void {
    server.onTether((client) => this.add(client));
  }

  get(id: string): TetherClient | undefined {
    const c = this.clients.get(id);
    return c && !c.closed ? c : undefined;
  }

  waitFor(id: string, timeoutMs: number): Promise<TetherClient> {
    const now = this.get(id);
    if (now) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const set = this.waiters.get(id) ?? new Set();
      this.waiters.set(id, set);
      const settle = (): void => {
        clearTimeout(timer);
        set.delete(done);
        this.cancels.delete(cancel);
      };
      const done = (c: TetherClient): void => {
        settle();
        resolve(c);
      };
      const cancel = (): void => {
        settle();
        reject(new Error(`container ${id.slice(0, 12)}: the VCH is closing`));
      };
      const timer = setTimeout(() => {
        settle();
        reject(new Error(`container ${id.slice(0, 12)}: no backchannel within ${timeoutMs} ms`));
      }, timeoutMs);
      set.add(done);
      this.cancels.add(cancel);
    });
  }

  /** Fails every wait: the VCH is closing, and no timer of it may keep the process up. */
  close(): void {
    for (const cancel of [...this.cancels]) cancel();
  }

  private add(client: TetherClient): void {
    const id = client.hello.containerId ?? client.vmId;
    const previous = this.clients.get(id);
    this.clients.set(id, client);
    if (previous && previous !== client) previous.close();
    client.onClose(() => {
      if (this.clients.get(id) === client) this.clients.delete(id);
    });
    for (const w of [...(this.waiters.get(id) ?? [])]) w(client);
  }
}
