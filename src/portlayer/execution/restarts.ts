/**
 * Applies restart policies: after an exit the policy allows, wait Docker's back-off, count
 * the restart in the VM's extraConfig, and start the container again (a cold boot of its
 * VM). When the VCH starts it does the same for containers that exited while it was away.
 * A user's stop, kill or removal cancels a pending restart.
 */
import { type RestartState, restartDelayMs, shouldRestart } from './restart-policy';
import type { CachedContainer, ContainerCache } from './state';

export interface RestartKeeperOptions {
  readonly cache: ContainerCache;
  /** Stores the bookkeeping in the VM (extraConfig). */
  readonly save: (c: CachedContainer, state: RestartState) => Promise<void>;
  /** Starts a run without resetting the bookkeeping (as a user's start would). */
  readonly run: (id: string) => Promise<void>;
  readonly log?: (msg: string) => void;
}

export class RestartKeeper {
  /** The last back-off per container, doubled while restarts come quickly. */
  private readonly delays = new Map<string, number>();
  private readonly pending = new Map<string, NodeJS.Timeout>();
  /** From an exit the policy restarts until the new run has started (or failed to). */
  private readonly restarting = new Set<string>();

  constructor(private readonly o: RestartKeeperOptions) {}

  /** At the VCH's start: containers that exited while no VCH watched them. */
  resume(): void {
    for (const c of this.o.cache.all()) {
      if (c.state.status === 'exited' && shouldRestart(c.restart, c.state.exitCode, true)) this.schedule(c.id, 0);
    }
  }

  /** An exit of `c`'s run. */
  exited(c: CachedContainer, exitCode: number): void {
    if (!shouldRestart(c.restart, exitCode)) {
      this.delays.delete(c.id);
      return;
    }
    const { startedAt, finishedAt } = c.state;
    const ranMs = startedAt && finishedAt ? finishedAt.getTime() - startedAt.getTime() : 0;
    const delay = restartDelayMs(this.delays.get(c.id), ranMs);
    this.delays.set(c.id, delay);
    this.schedule(c.id, delay, exitCode);
  }

  /** Docker's `restarting` state: waiting out the back-off, or booting the VM again. */
  isRestarting(id: string): boolean {
    return this.restarting.has(id);
  }

  cancel(id: string): void {
    clearTimeout(this.pending.get(id));
    this.pending.delete(id);
    this.delays.delete(id);
    this.restarting.delete(id);
  }

  close(): void {
    for (const id of [...this.pending.keys()]) this.cancel(id);
  }

  private schedule(id: string, delayMs: number, exitCode?: number): void {
    clearTimeout(this.pending.get(id));
    this.restarting.add(id);
    const timer = setTimeout(() => {
      this.pending.delete(id);
      void this.restart(id, exitCode)
        .catch((err: unknown) =>
          this.o.log?.(`restart of ${id.slice(0, 12)} failed: ${err instanceof Error ? err.message : String(err)}`),
        )
        .finally(() => {
          if (!this.pending.has(id)) this.restarting.delete(id);
        });
    }, delayMs);
    timer.unref();
    this.pending.set(id, timer);
  }

  private async restart(id: string, exitCode: number | undefined): Promise<void> {
    // Decided again on the latest state: a stop or an update may have come meanwhile.
    const c = this.o.cache.byId(id);
    if (!c || c.state.running || !shouldRestart(c.restart, exitCode ?? c.state.exitCode, exitCode === undefined))
      return;
    await this.o.save(c, { ...c.restart, count: c.restart.count + 1 });
    this.o.log?.(`restarting ${id.slice(0, 12)} (${c.restart.policy.name}, restart ${c.restart.count + 1})`);
    await this.o.run(id);
  }
}
