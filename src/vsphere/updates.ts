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
 * - watchView() watches every object of a type in a container view (objects that appear
 *   later too): one filter over the view, per-object updates. The view is session-scoped,
 *   so it belongs to a collector generation: a recovery makes a new view and filter, then
 *   reads the view once more and reports what changed meanwhile (objects gone: 'leave').
 *
 * Watching a view, e.g. every VM of the inventory:
 *
 *   const loop = await updatesFor(client);
 *   const stop = await loop.watchView(client.serviceContent.rootFolder, 'VirtualMachine',
 *     ['runtime.powerState', 'config.extraConfig'], (u) => {
 *       // u.obj: the VM; u.kind: 'enter' (first report, or it appeared), 'modify', 'leave'
 *       // (destroyed, or no longer in the view); u.changes: what changed; u.values: all paths.
 *     });
 *   ...
 *   await stop(); // destroys the filter and the view
 */
import type { VimClient } from './client';
import { faultTypeOf, ManagedObjectNotFoundError } from './faults';
import { containerViewObjectSpec, PropertyCollector } from './propertyCollector';
import type { ObjectUpdate, PropertyFilterSpec, PropertyFilterUpdate, UpdateSet } from './vim25/generated/types';
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

export interface WatchViewOptions {
  /** Objects anywhere below the container (true, the default) or its direct children only. */
  readonly recursive?: boolean;
  /**
   * Errors about this watch only: its callback threw, or re-reading the view after a
   * recovery failed. Without it they go to the loop's onError. (The loop's own errors,
   * failed waits it retries, always go to the loop's onError.)
   */
  readonly onError?: (err: unknown) => void;
}

/** One object of a watched view, as far as the watcher knows it. */
interface ViewObject {
  readonly obj: ManagedObjectReference;
  readonly values: Record<string, VimAny | undefined>;
}

interface ViewState {
  readonly container: ManagedObjectReference;
  readonly type: string;
  readonly recursive: boolean;
  readonly onError?: (err: unknown) => void;
  /** The server-side ContainerView, and the collector generation it was made for. */
  ref?: ManagedObjectReference;
  refGeneration: number;
  readonly objects: Map<string, ViewObject>;
  /**
   * One map per read of the view in flight: what the loop reported meanwhile (paths by
   * object, or 'left'), which the read must not overwrite with its possibly older snapshot.
   */
  readonly reads: Set<Map<string, Set<string> | 'left'>>;
}

interface Watcher {
  /** The watched object; for a view watcher, the view's container. */
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
  /** Set for watchView() watchers. */
  readonly view?: ViewState;
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
    return this.addWatcher({
      obj,
      paths: [...paths],
      callback,
      generation: -1,
      values: {},
      fromLoop: new Set(),
      entered: false,
      active: true,
    });
  }

  /**
   * Calls `callback` for every object of `type` in a container view of `container`: first
   * 'enter' with the current values of `paths` for each object in it, then 'enter' for
   * objects that appear later, 'modify' when one of `paths` changes, 'leave' when an object
   * is destroyed or leaves the container. One ContainerView and one filter on the server.
   * Resolves once every current object has been reported; the returned function destroys
   * the filter and the view. After a session loss the view is made again and re-read, so
   * changes made meanwhile are reported (objects destroyed meanwhile: 'leave').
   */
  async watchView(
    container: ManagedObjectReference,
    type: string,
    paths: readonly string[],
    callback: WatchCallback,
    options: WatchViewOptions = {},
  ): Promise<Unsubscribe> {
    return this.addWatcher({
      obj: container,
      paths: [...paths],
      callback,
      generation: -1,
      values: {},
      fromLoop: new Set(),
      entered: true,
      active: true,
      view: {
        container,
        type,
        recursive: options.recursive ?? true,
        onError: options.onError,
        refGeneration: -1,
        objects: new Map(),
        reads: new Set(),
      },
    });
  }

  /** Registers a watcher and makes its server-side filter; on failure it is removed again. */
  private async addWatcher(watcher: Watcher): Promise<Unsubscribe> {
    if (this.closed) throw new Error('the updates loop is closed');
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
    if (watcher.view) await this.destroyView(watcher.view);
  }

  /** Best effort: a view of a session that ended is gone already. */
  private async destroyView(view: ViewState): Promise<void> {
    const ref = view.ref;
    view.ref = undefined;
    view.refGeneration = -1;
    if (ref) await this.client.invoke('DestroyView', ref, {}).catch(() => undefined);
  }

  /** A view watcher's ContainerView for the current collector generation (session-scoped, like the collector). */
  private async ensureView(watcher: Watcher, view: ViewState, generation: number): Promise<ManagedObjectReference> {
    if (view.ref && view.refGeneration === generation) return view.ref;
    await this.destroyView(view);
    const viewManager = this.client.serviceContent.viewManager;
    if (!viewManager) throw new Error('this endpoint has no ViewManager');
    const ref = await this.client.invoke('CreateContainerView', viewManager, {
      container: view.container,
      type: [view.type],
      recursive: view.recursive,
    });
    if (!watcher.active || this.closed) {
      await this.client.invoke('DestroyView', ref, {}).catch(() => undefined);
      throw new Error('the watch was closed');
    }
    if (view.ref) await this.destroyView(view); // a concurrent call made one too
    view.ref = ref;
    view.refGeneration = generation;
    return ref;
  }

  private async filterSpec(watcher: Watcher, generation: number): Promise<PropertyFilterSpec> {
    if (!watcher.view) {
      return {
        propSet: [{ type: watcher.obj.type, pathSet: [...watcher.paths] }],
        objectSet: [{ obj: watcher.obj }],
        // Without it a watched object that is deleted fails every later wait of the whole
        // collector with ManagedObjectNotFound (vcsim does exactly that).
        reportMissingObjectsInResults: true,
      };
    }
    const ref = await this.ensureView(watcher, watcher.view, generation);
    return {
      propSet: [{ type: watcher.view.type, pathSet: [...watcher.paths] }],
      objectSet: [containerViewObjectSpec(ref)],
      reportMissingObjectsInResults: true,
    };
  }

  private async createFilter(watcher: Watcher): Promise<void> {
    for (;;) {
      if (this.recovering) await this.recovering;
      const generation = this.generation;
      const collector = this.collector;
      const spec = await this.filterSpec(watcher, generation);
      const filter = await this.client
        .invoke('CreateFilter', collector, { spec, partialUpdates: false })
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
    if (watcher.view) return this.readView(watcher, watcher.view);
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

  /**
   * Reads every object of a view and reports the difference to what the watcher knows:
   * new objects enter, changed ones modify, known ones no longer listed leave. What the loop
   * reported while the read was in flight wins over the read's snapshot.
   */
  private async readView(watcher: Watcher, view: ViewState): Promise<void> {
    const ref = view.ref;
    if (!ref) return;
    const touched = new Map<string, Set<string> | 'left'>();
    view.reads.add(touched);
    let contents: Awaited<ReturnType<PropertyCollector['retrieve']>>;
    try {
      contents = await this.retrieval.retrieve({ ref, destroy: async () => undefined }, view.type, watcher.paths);
    } finally {
      view.reads.delete(touched);
    }
    if (!watcher.active || view.ref !== ref) return; // closed, or rebuilt: that read reports
    const listed = new Set<string>();
    for (const { obj, props } of contents) {
      const key = obj.value;
      listed.add(key);
      const fromLoop = touched.get(key);
      if (fromLoop === 'left') continue;
      let known = view.objects.get(key);
      const first = !known;
      if (!known) {
        known = { obj, values: {} };
        view.objects.set(key, known);
      }
      const changes: Record<string, VimAny | undefined> = {};
      for (const path of watcher.paths) {
        if (fromLoop?.has(path)) continue;
        const value = props[path];
        if (first || !sameValue(known.values[path], value)) changes[path] = value;
        known.values[path] = value;
      }
      this.emitView(watcher, known, first ? 'enter' : 'modify', changes);
    }
    for (const [key, known] of [...view.objects]) {
      if (listed.has(key) || touched.has(key)) continue;
      view.objects.delete(key);
      this.emitView(watcher, known, 'leave', {});
    }
  }

  private deliverView(watcher: Watcher, view: ViewState, update: ObjectUpdate): void {
    const key = update.obj.value;
    if (update.kind === 'leave') {
      for (const t of view.reads) t.set(key, 'left');
      const known = view.objects.get(key);
      if (known) {
        view.objects.delete(key);
        this.emitView(watcher, known, 'leave', {});
      }
      return;
    }
    let known = view.objects.get(key);
    const first = !known;
    if (!known) {
      known = { obj: update.obj, values: {} };
      view.objects.set(key, known);
    }
    const changes: Record<string, VimAny | undefined> = {};
    for (const change of update.changeSet ?? []) {
      const value = change.op === 'remove' || change.op === 'indirectRemove' ? undefined : change.val;
      for (const t of view.reads) {
        let paths = t.get(key);
        if (paths === undefined || paths === 'left') {
          paths = new Set();
          t.set(key, paths);
        }
        paths.add(change.name);
      }
      if (!first && sameValue(known.values[change.name], value)) continue;
      known.values[change.name] = value;
      changes[change.name] = value;
    }
    this.emitView(watcher, known, first ? 'enter' : 'modify', changes);
  }

  private emitView(
    watcher: Watcher,
    known: ViewObject,
    kind: UpdateKind,
    changes: Record<string, VimAny | undefined>,
  ): void {
    if (!watcher.active) return;
    if (kind === 'modify' && Object.keys(changes).length === 0) return;
    try {
      watcher.callback({ obj: known.obj, kind, changes, values: { ...known.values } });
    } catch (err) {
      this.reportFor(watcher, err);
    }
  }

  /**
   * The view itself went missing from under its filter (someone destroyed it): a new view
   * and filter, then a read of it that reports what changed meanwhile.
   */
  private rebuildView(watcher: Watcher, view: ViewState): void {
    const filter = watcher.filter;
    if (filter) {
      this.byFilter.delete(filter.value);
      void this.client.invoke('DestroyPropertyFilter', filter, {}).catch(() => undefined);
    }
    watcher.filter = undefined;
    watcher.generation = -1;
    view.ref = undefined; // already gone: nothing to destroy
    view.refGeneration = -1;
    void this.createFilter(watcher)
      .then(() => this.readView(watcher, view))
      .catch((e: unknown) => this.reportFor(watcher, e));
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
            .catch((e: unknown) => (w.view ? this.reportFor(w, e) : this.objectGone(w, e)));
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
    if (watcher?.view) {
      const view = watcher.view;
      for (const m of update.missingSet ?? []) {
        // The view itself is gone: make it again. An object of it: it left.
        if (m.obj.value === view.ref?.value) {
          this.rebuildView(watcher, view);
          return;
        }
        this.deliverView(watcher, view, { obj: m.obj, kind: 'leave' } as ObjectUpdate);
      }
    } else if (watcher && (update.missingSet ?? []).some((m) => m.obj.value === watcher.obj.value)) {
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
    if (watcher.view) {
      this.deliverView(watcher, watcher.view, update);
      return;
    }
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

  private reportFor(watcher: Watcher, err: unknown): void {
    if (watcher.view?.onError) watcher.view.onError(err);
    else this.report(err);
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
