/**
 * The session's one WaitForUpdatesEx loop: watchers of object properties, fed by the server
 * instead of polling. Task completion (tasks.ts) and every object watcher ride on it.
 *
 * - The loop owns a PropertyCollector of its own (CreatePropertyCollector) so its filters
 *   and its pending wait never disturb retrievals on the session's default collector.
 * - One PropertyFilter per watcher, created and destroyed as watchers come and go.
 * - The loop only has a call pending while there are watchers (after the last one leaves it
 *   pauses with CancelWaitForUpdates), so an idle session never keeps Node alive; close()
 *   cancels the wait, aborts it if the server does not answer, and destroys the collector.
 * - After a failed wait it retries with backoff; when the collector itself is gone (the
 *   client logged in again, so session-scoped objects vanished) it makes a new one and
 *   re-creates every filter.
 * - Each new watcher also reads its properties once (RetrievePropertiesEx): the server
 *   would deliver the initial state in the next update set anyway, but vcsim only computes
 *   new filters' state when some object changes, and a task that finished before its filter
 *   existed would otherwise never be reported. Values seen twice are reported once.
 */
import type { VimClient } from './client';
import { faultTypeOf, ManagedObjectNotFoundError } from './faults';
import { PropertyCollector } from './propertyCollector';
import type { ObjectUpdate, PropertyFilterUpdate, UpdateSet } from './vim25/generated/types';
import type { ManagedObjectReference, VimAny } from './vim25/values';

export type UpdateKind = 'enter' | 'modify' | 'leave';

export interface PropertyUpdate {
  readonly obj: ManagedObjectReference;
  /** 'enter': first report of the object; 'modify': values changed; 'leave': the object is gone. */
  readonly kind: UpdateKind;
  /** The watched paths that changed in this update and their new values (undefined: unset). */
  readonly changes: Readonly<Record<string, VimAny | undefined>>;
  /** Every watched path's current value as far as the watcher knows. */
  readonly values: Readonly<Record<string, VimAny | undefined>>;
}

export type WatchCallback = (update: PropertyUpdate) => void;
export type Unsubscribe = () => Promise<void>;

export interface UpdatesLoopOptions {
  /** Seconds the server may hold a wait open (WaitOptions.maxWaitSeconds); kept below HTTP idle timeouts. */
  readonly maxWaitSeconds?: number;
  /** How long the loop stays waiting after its last watcher left before it pauses. */
  readonly idlePauseMs?: number;
  /** Errors the loop recovered from, and errors thrown by watcher callbacks. */
  readonly onError?: (err: unknown) => void;
}

interface Watcher {
  readonly obj: ManagedObjectReference;
  readonly paths: readonly string[];
  readonly callback: WatchCallback;
  filter?: ManagedObjectReference;
  /** Collector generation the filter belongs to (a new collector means new filters). */
  generation: number;
  readonly values: Record<string, VimAny | undefined>;
  /** Paths that came from the loop, so the initial read does not overwrite newer values. */
  readonly fromLoop: Set<string>;
  entered: boolean;
  active: boolean;
}

const DEFAULT_MAX_WAIT_SECONDS = 60;
const DEFAULT_IDLE_PAUSE_MS = 1000;
const CANCEL_GRACE_MS = 2000;
const MAX_BACKOFF_MS = 5000;

export class UpdatesLoop {
  private collector: ManagedObjectReference;
  private generation = 0;
  private version = '';
  private readonly watchers = new Set<Watcher>();
  private readonly byFilter = new Map<string, Watcher>();
  /** Updates that arrived for a filter before CreateFilter's answer registered it. */
  private readonly early = new Map<string, ObjectUpdate[]>();
  private running: Promise<void> | undefined;
  private waitAbort: AbortController | undefined;
  private pauseRequested = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private recovering: Promise<void> | undefined;
  /** Ends the retry delay early (close or pause should not wait it out). */
  private endBackoff: (() => void) | undefined;
  private readonly retrieval: PropertyCollector;
  private readonly maxWaitSeconds: number;
  private readonly idlePauseMs: number;

  private constructor(
    private readonly client: VimClient,
    collector: ManagedObjectReference,
    private readonly options: UpdatesLoopOptions,
  ) {
    this.collector = collector;
    this.retrieval = new PropertyCollector(client);
    this.maxWaitSeconds = options.maxWaitSeconds ?? DEFAULT_MAX_WAIT_SECONDS;
    this.idlePauseMs = options.idlePauseMs ?? DEFAULT_IDLE_PAUSE_MS;
  }

  /** Makes the loop's own PropertyCollector; the wait starts with the first watcher. */
  static async start(client: VimClient, options: UpdatesLoopOptions = {}): Promise<UpdatesLoop> {
    const collector = await client.invoke('CreatePropertyCollector', client.serviceContent.propertyCollector, {});
    return new UpdatesLoop(client, collector, options);
  }

  get watcherCount(): number {
    return this.watchers.size;
  }

  /** True while a WaitForUpdatesEx loop is running (for tests and diagnostics). */
  get isWaiting(): boolean {
    return this.running !== undefined;
  }

  /**
   * Calls `callback` whenever one of `paths` of `obj` changes, first with the current values
   * ('enter'). Resolves once the server-side filter exists; rejects with the fault when the
   * object does not exist (ManagedObjectNotFound).
   */
  async watch(obj: ManagedObjectReference, paths: readonly string[], callback: WatchCallback): Promise<Unsubscribe> {
    if (this.closed) throw new Error('the updates loop is closed');
    const watcher: Watcher = {
      obj,
      paths: [...paths],
      callback,
      generation: -1,
      values: {},
      fromLoop: new Set(),
      entered: false,
      active: true,
    };
    this.watchers.add(watcher);
    this.wake();
    const unsubscribe: Unsubscribe = () => this.unwatch(watcher);
    try {
      await this.createFilter(watcher);
      await this.readInitialValues(watcher);
    } catch (err) {
      await unsubscribe();
      throw err;
    }
    return unsubscribe;
  }

  /** Stops the loop for good: cancels the pending wait, destroys the collector and its filters. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.watchers) w.active = false;
    this.watchers.clear();
    this.byFilter.clear();
    this.early.clear();
    if (this.idleTimer) clearTimeout(this.idleTimer);
    await this.stopWaiting();
    // Destroying the collector destroys its filters too.
    await this.client.invoke('DestroyPropertyCollector', this.collector, {}).catch(() => undefined);
  }

  private async unwatch(watcher: Watcher): Promise<void> {
    if (!watcher.active) return;
    watcher.active = false;
    this.watchers.delete(watcher);
    const filter = watcher.filter;
    if (filter) {
      this.byFilter.delete(filter.value);
      this.early.delete(filter.value);
    }
    if (this.watchers.size === 0) this.scheduleIdlePause();
    if (filter && !this.closed && watcher.generation === this.generation) {
      await this.client.invoke('DestroyPropertyFilter', filter, {}).catch((err: unknown) => {
        // A filter that is already gone (collector replaced) is fine; anything else is worth a note.
        if (faultTypeOf(err) !== 'ManagedObjectNotFound') this.report(err);
      });
    }
  }

  private async createFilter(watcher: Watcher): Promise<void> {
    for (;;) {
      if (this.recovering) await this.recovering;
      const generation = this.generation;
      const collector = this.collector;
      const filter = await this.client
        .invoke('CreateFilter', collector, {
          spec: {
            propSet: [{ type: watcher.obj.type, pathSet: [...watcher.paths] }],
            objectSet: [{ obj: watcher.obj }],
            // Without it a watched object that is deleted fails every later wait of the whole
            // collector with ManagedObjectNotFound (vcsim does exactly that).
            reportMissingObjectsInResults: true,
          },
          partialUpdates: false,
        })
        .catch(async (err: unknown) => {
          // The session was replaced since the collector was made: make a new one and try again.
          if (!this.lostCollector(err, collector) || this.closed) throw err;
          if (generation === this.generation) await this.recover();
          return undefined;
        });
      if (filter === undefined) continue;
      // Inactive, or a recovery already gave this watcher a filter on the current collector.
      if (!watcher.active || this.closed || (watcher.filter && watcher.generation === this.generation)) {
        await this.client.invoke('DestroyPropertyFilter', filter, {}).catch(() => undefined);
        return;
      }
      if (generation !== this.generation) continue; // the collector was replaced meanwhile
      watcher.filter = filter;
      watcher.generation = generation;
      this.byFilter.set(filter.value, watcher);
      const early = this.early.get(filter.value);
      if (early) {
        this.early.delete(filter.value);
        for (const u of early) this.deliver(watcher, u);
      }
      return;
    }
  }

  private async readInitialValues(watcher: Watcher): Promise<void> {
    const { props } = await this.retrieval.retrieveOne(watcher.obj, watcher.paths);
    if (!watcher.active) return;
    const changes: Record<string, VimAny | undefined> = {};
    for (const path of watcher.paths) {
      if (watcher.fromLoop.has(path)) continue;
      const value = props[path];
      if (!watcher.entered || !sameValue(watcher.values[path], value)) changes[path] = value;
      watcher.values[path] = value;
    }
    this.emit(watcher, 'enter', changes);
  }

  private wake(): void {
    if (this.idleTimer) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
    this.pauseRequested = false;
    if (!this.running && !this.closed) {
      this.running = this.run().finally(() => {
        this.running = undefined;
        if (!this.closed && this.watchers.size > 0) this.wake();
      });
    }
  }

  private scheduleIdlePause(): void {
    if (this.idleTimer || this.closed) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.watchers.size === 0) {
        this.pauseRequested = true;
        void this.stopWaiting();
      }
    }, this.idlePauseMs);
    this.idleTimer.unref();
  }

  /** Ends the pending wait: CancelWaitForUpdates, then a hard abort if the server does not answer. */
  private async stopWaiting(): Promise<void> {
    const running = this.running;
    if (!running) return;
    this.endBackoff?.();
    await this.client.invoke('CancelWaitForUpdates', this.collector, {}).catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'grace'>((resolve) => {
      timer = setTimeout(() => resolve('grace'), CANCEL_GRACE_MS);
    });
    const first = await Promise.race([running.then(() => 'stopped' as const), grace]);
    clearTimeout(timer);
    // A watcher may have arrived meanwhile (the pause is off): then the loop rightly goes on.
    if (first === 'stopped' || !this.shouldStop()) return;
    this.waitAbort?.abort(new Error('updates loop stopped'));
    await running;
  }

  private shouldStop(): boolean {
    return this.closed || this.pauseRequested;
  }

  private async run(): Promise<void> {
    let backoffMs = 100;
    while (!this.shouldStop()) {
      const abort = new AbortController();
      this.waitAbort = abort;
      const generation = this.generation;
      const collector = this.collector;
      try {
        const set: UpdateSet | undefined = await this.client.invoke(
          'WaitForUpdatesEx',
          collector,
          { version: this.version, options: { maxWaitSeconds: this.maxWaitSeconds } },
          { signal: abort.signal },
        );
        backoffMs = 100;
        if (this.closed) return;
        if (generation !== this.generation) continue; // an answer about a collector since replaced
        if (set) {
          this.version = set.version;
          this.dispatch(set);
        }
      } catch (err) {
        if (this.shouldStop()) return;
        if (generation !== this.generation) continue;
        const fault = faultTypeOf(err);
        if (fault === 'RequestCanceled') continue; // a pause that was called off again
        if (fault === 'InvalidCollectorVersion') {
          this.version = '';
          continue;
        }
        this.report(err);
        if (this.lostCollector(err, collector)) await this.recover().catch((e: unknown) => this.report(e));
        await this.backoff(backoffMs);
        backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
      } finally {
        this.waitAbort = undefined;
      }
    }
  }

  private backoff(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.endBackoff = () => {
        this.endBackoff = undefined;
        done();
      };
    });
  }

  /** The loop's collector is gone: the session was replaced (re-login) or someone destroyed it. */
  private lostCollector(err: unknown, collector = this.collector): boolean {
    if (faultTypeOf(err) === 'NotAuthenticated') return true;
    return err instanceof ManagedObjectNotFoundError && err.obj.value === collector.value;
  }

  /** A new collector and new filters for every watcher, and their current values read again. */
  private recover(): Promise<void> {
    if (!this.recovering) {
      this.recovering = (async () => {
        const collector = await this.client.invoke(
          'CreatePropertyCollector',
          this.client.serviceContent.propertyCollector,
          {},
        );
        this.collector = collector;
        this.generation += 1;
        this.version = '';
        this.byFilter.clear();
        this.early.clear();
        // A wait still pending on the old collector would only delay the loop: end it.
        this.waitAbort?.abort(new Error('property collector replaced'));
      })().finally(() => {
        this.recovering = undefined;
      });
      void this.recovering.then(async () => {
        for (const w of [...this.watchers]) {
          if (w.generation === this.generation) continue;
          w.fromLoop.clear();
          await this.createFilter(w)
            .then(() => this.readInitialValues(w))
            .catch((e: unknown) => this.objectGone(w, e));
        }
      });
    }
    return this.recovering;
  }

  /** Reading a watcher's object failed: when it no longer exists, tell the watcher it left. */
  private objectGone(watcher: Watcher, err: unknown): void {
    if (err instanceof ManagedObjectNotFoundError && err.obj.value === watcher.obj.value) {
      this.emit(watcher, 'leave', {});
      void this.unwatch(watcher);
    } else {
      this.report(err);
    }
  }

  private dispatch(set: UpdateSet): void {
    for (const filterUpdate of set.filterSet ?? []) this.dispatchFilter(filterUpdate);
  }

  private dispatchFilter(update: PropertyFilterUpdate): void {
    const watcher = this.byFilter.get(update.filter.value);
    // reportMissingObjectsInResults: a watched object that no longer exists is listed here.
    if (watcher && (update.missingSet ?? []).some((m) => m.obj.value === watcher.obj.value)) {
      this.emit(watcher, 'leave', {});
    }
    for (const objectUpdate of update.objectSet ?? []) {
      if (watcher) this.deliver(watcher, objectUpdate);
      else {
        // CreateFilter's answer may arrive after the wait that already carries its first update.
        const list = this.early.get(update.filter.value) ?? [];
        list.push(objectUpdate);
        this.early.set(update.filter.value, list);
      }
    }
  }

  private deliver(watcher: Watcher, update: ObjectUpdate): void {
    if (!watcher.active) return;
    if (update.kind === 'leave') {
      this.emit(watcher, 'leave', {});
      return;
    }
    const changes: Record<string, VimAny | undefined> = {};
    for (const change of update.changeSet ?? []) {
      const value = change.op === 'remove' || change.op === 'indirectRemove' ? undefined : change.val;
      watcher.fromLoop.add(change.name);
      if (watcher.entered && sameValue(watcher.values[change.name], value)) continue;
      watcher.values[change.name] = value;
      changes[change.name] = value;
    }
    // 'enter' is reported once per watcher: the server's own 'enter' may come after the initial read.
    this.emit(watcher, watcher.entered ? 'modify' : 'enter', changes);
  }

  private emit(watcher: Watcher, kind: UpdateKind, changes: Record<string, VimAny | undefined>): void {
    if (!watcher.active) return;
    const first = !watcher.entered;
    if (!first && kind !== 'leave' && Object.keys(changes).length === 0) return;
    watcher.entered = true;
    try {
      watcher.callback({ obj: watcher.obj, kind: first ? 'enter' : kind, changes, values: { ...watcher.values } });
    } catch (err) {
      this.report(err);
    }
  }

  private report(err: unknown): void {
    this.options.onError?.(err);
  }
}

/** Structural equality of decoded vim25 values (why: to report a value seen twice only once). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  }
  if (typeof a === 'object' && typeof b === 'object' && a !== null && b !== null) {
    if (Array.isArray(a) || Array.isArray(b)) return false;
    const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
    const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
    return (
      ka.length === kb.length &&
      ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
    );
  }
  return false;
}

const sessionLoops = new WeakMap<VimClient, Promise<UpdatesLoop>>();

/** The session's one updates loop, made on first use (options apply to that first call only). */
export function updatesFor(client: VimClient, options?: UpdatesLoopOptions): Promise<UpdatesLoop> {
  let loop = sessionLoops.get(client);
  if (!loop) {
    loop = UpdatesLoop.start(client, options);
    sessionLoops.set(client, loop);
    // A failed start is not cached: the next caller tries again.
    loop.catch(() => sessionLoops.delete(client));
  }
  return loop;
}

/** Closes the session's updates loop, if it has one; call before VimClient.close(). */
export async function closeUpdatesFor(client: VimClient): Promise<void> {
  const loop = sessionLoops.get(client);
  sessionLoops.delete(client);
  if (loop) await (await loop).close();
}
