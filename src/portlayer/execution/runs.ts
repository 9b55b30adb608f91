/**
 * The runs of the VCH's containers as the personality's events need them: `start` once a
 * run's start has finished, `die` when that run's exit shows in the VM's status or power
 * (whoever caused it: the process itself, a stop, a kill, a VM powered off in vSphere), and
 * `destroy` when the VM goes. `die` waits for its run's `start`: a fast process may be
 * recorded exited before the start call has returned.
 */
import type { ContainerLifecycleEvent, ContainerSummary } from '../api';
import type { CachedContainer, ContainerCache } from './state';

interface Run {
  /** Settles when the start of this run has (`start` is told then). */
  readonly started: Promise<void>;
  /**
   * The exit the container showed when the run began: the cache may still report it for a
   * moment (a cold boot clears it), and it is not this run's.
   */
  stale: string | undefined;
}

export type ExitListener = (c: CachedContainer, exitCode: number) => void;

function exitKey(c: CachedContainer): string | undefined {
  return c.state.status === 'exited' ? `${c.state.exitCode}:${c.state.finishedAt?.getTime() ?? 'unknown'}` : undefined;
}

export class RunTracker {
  private readonly runs = new Map<string, Run>();
  private readonly listeners = new Set<(e: ContainerLifecycleEvent) => void>();
  private readonly exitListeners = new Set<ExitListener>();

  constructor(
    private readonly cache: ContainerCache,
    private readonly summarize: (c: CachedContainer) => ContainerSummary,
  ) {
    for (const c of cache.all())
      if (c.state.running) this.runs.set(c.id, { started: Promise.resolve(), stale: undefined });
    cache.subscribe((e) => {
      if (e.kind === 'removed') {
        this.runs.delete(e.container.id);
        this.emit({ action: 'destroy', container: this.summarize(e.container) });
      } else {
        this.changed(e.container);
      }
    });
  }

  /** Every start, die and destroy from now on. */
  subscribe(listener: (e: ContainerLifecycleEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Each exit of a run (after its `die`), for the restart policy. */
  onExit(listener: ExitListener): () => void {
    this.exitListeners.add(listener);
    return () => this.exitListeners.delete(listener);
  }

  /** A run of `c` begins; `started` settles when its start call does. */
  begin(c: CachedContainer, started: Promise<void>): void {
    this.runs.set(c.id, { started: started.catch(() => undefined), stale: exitKey(c) });
    // A start that failed (no such executable) is no `start`: its exit still gets its `die`.
    started.then(
      () => {
        const now = this.cache.byId(c.id);
        if (now) this.emit({ action: 'start', container: this.summarize(now) });
      },
      () => undefined,
    );
  }

  private changed(c: CachedContainer): void {
    let run = this.runs.get(c.id);
    if (!run) {
      // Running without a start through this VCH (another VCH, or before this one began).
      if (!c.state.running) return;
      run = { started: Promise.resolve(), stale: undefined };
      this.runs.set(c.id, run);
    }
    const key = exitKey(c);
    if (key === undefined) {
      run.stale = undefined;
      return;
    }
    if (key === run.stale) return;
    this.runs.delete(c.id);
    void run.started.then(() => {
      const latest = this.cache.byId(c.id) ?? c;
      this.emit({ action: 'die', container: this.summarize(latest), exitCode: c.state.exitCode });
      for (const l of [...this.exitListeners]) l(latest, c.state.exitCode);
    });
  }

  private emit(e: ContainerLifecycleEvent): void {
    for (const l of [...this.listeners]) l(e);
  }
}
