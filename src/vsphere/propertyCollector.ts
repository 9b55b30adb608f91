/**
 * Reading properties of managed objects: RetrievePropertiesEx with paging, container views,
 * and a small typed helper around both.
 *
 * Retrieval uses the session's own PropertyCollector (serviceContent.propertyCollector);
 * the WaitForUpdatesEx loop (updates.ts) makes a collector of its own so that filters
 * and a pending wait never interfere with a retrieval.
 */
import type { VimClient } from './client';
import { faultFromLocalized } from './faults';
import type {
  LocalizedMethodFault,
  ObjectContent,
  ObjectSpec,
  PropertyFilterSpec,
  RetrieveResult,
  SelectionSpec,
  TraversalSpec,
} from './vim25/generated/types';
import type { ManagedObjectReference, VimAny } from './vim25/values';

export interface RetrieveOptions {
  /** Objects per page (RetrieveOptions.maxObjects); the server may return fewer. */
  readonly maxObjects?: number;
  readonly signal?: AbortSignal;
  /**
   * Throw the fault of the first property the server could not read (InvalidProperty for
   * a path the type does not have, NoPermission...) instead of listing it in `missing`.
   */
  readonly failOnMissing?: boolean;
}

/** One object's properties: values by path, and the paths the server could not read. */
export interface ObjectProperties<P extends string = string> {
  readonly obj: ManagedObjectReference;
  /** Values by property path. Unset properties are absent (vSphere omits them). */
  readonly props: Partial<Record<P, VimAny>>;
  /** Paths the server reported in missingSet (no permission, not readable...), with why. */
  readonly missing: Partial<Record<P, LocalizedMethodFault>>;
}

/** A server-side ContainerView: every object of some types under a folder, datacenter, ... */
export interface ContainerView {
  readonly ref: ManagedObjectReference;
  destroy(): Promise<void>;
}

/** Where to read objects from: a list of references, or a container view's contents. */
export type ObjectSource = readonly ManagedObjectReference[] | ContainerView;

export function isContainerView(source: ObjectSource): source is ContainerView {
  return !Array.isArray(source) && 'ref' in source;
}

/** The ObjectSpec that selects every object of a container view (not the view itself). */
export function containerViewObjectSpec(view: ManagedObjectReference): ObjectSpec {
  const traverseView: TraversalSpec = {
    _type: 'TraversalSpec',
    name: 'traverseView',
    type: 'ContainerView',
    path: 'view',
    skip: false,
  };
  return { obj: view, skip: true, selectSet: [traverseView as SelectionSpec] };
}

export class PropertyCollector {
  readonly ref: ManagedObjectReference;

  constructor(
    private readonly client: VimClient,
    ref?: ManagedObjectReference,
  ) {
    this.ref = ref ?? client.serviceContent.propertyCollector;
  }

  /**
   * Yields the results page by page: RetrievePropertiesEx, then ContinueRetrievePropertiesEx
   * while the server hands back a token. Breaking out of the loop early releases the
   * server-side result set (CancelRetrievePropertiesEx) so it does not linger in the session.
   */
  async *pages(specSet: PropertyFilterSpec[], options: RetrieveOptions = {}): AsyncGenerator<ObjectContent[]> {
    const { signal } = options;
    let result: RetrieveResult | undefined = await this.client.invoke(
      'RetrievePropertiesEx',
      this.ref,
      { specSet, options: options.maxObjects === undefined ? {} : { maxObjects: options.maxObjects } },
      { signal },
    );
    let finished = false;
    try {
      while (result) {
        const token: string | undefined = result.token;
        yield result.objects ?? [];
        if (token === undefined || token === '') break;
        result = await this.client.invoke('ContinueRetrievePropertiesEx', this.ref, { token }, { signal });
      }
      finished = true;
    } finally {
      const token = result?.token;
      if (!finished && token) {
        // Best effort: the consumer stopped early; an unreleased token only costs server memory.
        await this.client.invoke('CancelRetrievePropertiesEx', this.ref, { token }).catch(() => undefined);
      }
    }
  }

  /** Every ObjectContent of every page. */
  async retrieveContents(specSet: PropertyFilterSpec[], options: RetrieveOptions = {}): Promise<ObjectContent[]> {
    const all: ObjectContent[] = [];
    for await (const page of this.pages(specSet, options)) all.push(...page);
    return all;
  }

  /**
   * Properties `pathSet` of objects of `type`, from references or a container view.
   * A reference to a deleted object throws ManagedObjectNotFound (vSphere's own behaviour
   * for explicit object sets); a view simply no longer lists it.
   */
  async retrieve<P extends string>(
    source: ObjectSource,
    type: string,
    pathSet: readonly P[],
    options: RetrieveOptions = {},
  ): Promise<ObjectProperties<P>[]> {
    const objectSet: ObjectSpec[] = isContainerView(source)
      ? [containerViewObjectSpec(source.ref)]
      : source.map((obj) => ({ obj }));
    if (objectSet.length === 0) return [];
    const spec: PropertyFilterSpec = {
      propSet: [pathSet.length === 0 ? { type, all: false } : { type, pathSet: [...pathSet] }],
      objectSet,
    };
    const contents = await this.retrieveContents([spec], options);
    const objects = contents.map((c) => toObjectProperties<P>(c));
    if (options.failOnMissing) {
      for (const o of objects) {
        const first = Object.values(o.missing)[0] as LocalizedMethodFault | undefined;
        if (first) throw faultFromLocalized(first);
      }
    }
    return objects;
  }

  /** Properties of one object; throws ManagedObjectNotFound when it is gone. */
  async retrieveOne<P extends string>(
    obj: ManagedObjectReference,
    pathSet: readonly P[],
    options: Pick<RetrieveOptions, 'signal' | 'failOnMissing'> = {},
  ): Promise<ObjectProperties<P>> {
    const [found] = await this.retrieve([obj], obj.type, pathSet, options);
    // vSphere returns an ObjectContent even when no property is set; an empty answer
    // only comes from a server that dropped the object, treat it as "no properties".
    return found ?? { obj, props: {}, missing: {} };
  }

  /** A view of every object of `types` under `container` (recursively by default). */
  async createContainerView(
    container: ManagedObjectReference,
    types: readonly string[],
    recursive = true,
  ): Promise<ContainerView> {
    const viewManager = this.client.serviceContent.viewManager;
    if (!viewManager) throw new Error('this endpoint has no ViewManager');
    const ref = await this.client.invoke('CreateContainerView', viewManager, {
      container,
      type: [...types],
      recursive,
    });
    let destroyed = false;
    return {
      ref,
      destroy: async () => {
        if (destroyed) return;
        destroyed = true;
        await this.client.invoke('DestroyView', ref, {});
      },
    };
  }

  /** Runs `fn` with a container view that is destroyed afterwards, whatever happens. */
  async withContainerView<T>(
    container: ManagedObjectReference,
    types: readonly string[],
    fn: (view: ContainerView) => Promise<T>,
  ): Promise<T> {
    const view = await this.createContainerView(container, types);
    try {
      return await fn(view);
    } finally {
      await view.destroy().catch(() => undefined);
    }
  }
}

export function toObjectProperties<P extends string>(content: ObjectContent): ObjectProperties<P> {
  const props: Partial<Record<P, VimAny>> = {};
  for (const p of content.propSet ?? []) {
    if (p.val !== undefined) props[p.name as P] = p.val;
  }
  const missing: Partial<Record<P, LocalizedMethodFault>> = {};
  for (const m of content.missingSet ?? []) missing[m.path as P] = m.fault;
  return { obj: content.obj, props, missing };
}
