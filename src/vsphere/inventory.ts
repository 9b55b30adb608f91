/**
 * Finding inventory objects by path, the way govc does: `/DC0/host/DC0_C0/Resources`,
 * or a path relative to the datacenter's folder for that kind (`LocalDS_0` for a datastore,
 * `DC0_C0/Resources` for a pool), or nothing at all when exactly one object of the kind
 * exists. Errors say what does exist, so a mistyped name is fixed from the message alone.
 */
import type { VimClient } from './client';
import { PropertyCollector } from './propertyCollector';
import type { ManagedObjectReference } from './vim25/values';

export type InventoryKind = 'datacenter' | 'cluster' | 'host' | 'resourcePool' | 'folder' | 'datastore' | 'network';

/** Managed object types of each kind (container views include subtypes: DV port groups are Networks). */
const KIND_TYPES: Readonly<Record<InventoryKind, readonly string[]>> = {
  datacenter: ['Datacenter'],
  cluster: ['ClusterComputeResource'],
  host: ['HostSystem'],
  resourcePool: ['ResourcePool'],
  folder: ['Folder'],
  datastore: ['Datastore'],
  network: ['Network'],
};

/** The datacenter folder a relative path of each kind starts from. */
const KIND_FOLDER: Readonly<Record<Exclude<InventoryKind, 'datacenter'>, string>> = {
  cluster: 'host',
  host: 'host',
  resourcePool: 'host',
  folder: 'vm',
  datastore: 'datastore',
  network: 'network',
};

/** Types whose names make up the inventory path of something below a datacenter. */
const ANCESTOR_TYPES = ['Folder', 'ComputeResource', 'ResourcePool'];

export interface InventoryItem {
  readonly ref: ManagedObjectReference;
  readonly name: string;
  /** Inventory path, e.g. `/DC0/datastore/LocalDS_0`. */
  readonly path: string;
}

export interface Datacenter extends InventoryItem {
  readonly vmFolder: ManagedObjectReference;
  readonly hostFolder: ManagedObjectReference;
  readonly datastoreFolder: ManagedObjectReference;
  readonly networkFolder: ManagedObjectReference;
}

export class InventoryNotFoundError extends Error {
  override readonly name = 'InventoryNotFoundError';
  constructor(
    readonly kind: InventoryKind,
    readonly requested: string | undefined,
    readonly candidates: readonly string[],
  ) {
    super(
      requested === undefined
        ? `no ${kind} found${candidates.length ? `; found: ${candidates.join(', ')}` : ''}`
        : `${kind} not found: ${requested}; ${
            candidates.length ? `existing ${kind}s: ${candidates.join(', ')}` : `there is no ${kind} at all`
          }`,
    );
  }
}

export class InventoryAmbiguousError extends Error {
  override readonly name = 'InventoryAmbiguousError';
  constructor(
    readonly kind: InventoryKind,
    readonly candidates: readonly string[],
  ) {
    super(`${candidates.length} ${kind}s exist, say which one: ${candidates.join(', ')}`);
  }
}

/** Names in inventory paths escape '/' (vSphere writes %2f) so a name cannot split a path. */
export function escapeInventoryName(name: string): string {
  return name.replace(/%/g, '%25').replace(/\//g, '%2f');
}

export class Inventory {
  private readonly pc: PropertyCollector;

  constructor(private readonly client: VimClient) {
    this.pc = new PropertyCollector(client);
  }

  /** SearchIndex.FindByInventoryPath: undefined when nothing is at that path. */
  async findByPath(path: string): Promise<ManagedObjectReference | undefined> {
    const searchIndex = this.client.serviceContent.searchIndex;
    if (!searchIndex) throw new Error('this endpoint has no SearchIndex');
    return this.client.invoke('FindByInventoryPath', searchIndex, { inventoryPath: path });
  }

  /** A datacenter by path or name; the only one when `path` is omitted. */
  async datacenter(path?: string): Promise<Datacenter> {
    const ref = await this.resolve(
      'datacenter',
      path,
      () => this.listDatacenters(),
      (p) => p,
    );
    const [dc] = await this.pc.retrieve([ref], 'Datacenter', [
      'name',
      'vmFolder',
      'hostFolder',
      'datastoreFolder',
      'networkFolder',
    ]);
    const props = dc.props;
    const dcs = await this.listDatacenters();
    const listed = dcs.find((d) => d.ref.value === ref.value);
    return {
      ref,
      name: String(props.name),
      path: listed?.path ?? `/${escapeInventoryName(String(props.name))}`,
      vmFolder: props.vmFolder as ManagedObjectReference,
      hostFolder: props.hostFolder as ManagedObjectReference,
      datastoreFolder: props.datastoreFolder as ManagedObjectReference,
      networkFolder: props.networkFolder as ManagedObjectReference,
    };
  }

  cluster(dc: Datacenter, path?: string): Promise<ManagedObjectReference> {
    return this.find(dc, 'cluster', path);
  }

  host(dc: Datacenter, path?: string): Promise<ManagedObjectReference> {
    return this.find(dc, 'host', path);
  }

  datastore(dc: Datacenter, path?: string): Promise<ManagedObjectReference> {
    return this.find(dc, 'datastore', path);
  }

  network(dc: Datacenter, path?: string): Promise<ManagedObjectReference> {
    return this.find(dc, 'network', path);
  }

  /** A VM folder; the datacenter's `vm` folder when `path` is omitted (as govc). */
  folder(dc: Datacenter, path?: string): Promise<ManagedObjectReference> {
    if (path === undefined || path === '') return Promise.resolve(dc.vmFolder);
    return this.find(dc, 'folder', path);
  }

  /**
   * A resource pool; when `path` is omitted, the only pool, or else the root pool of the
   * only compute resource (a cluster's or a standalone host's `Resources`).
   */
  async resourcePool(dc: Datacenter, path?: string): Promise<ManagedObjectReference> {
    if (path !== undefined && path !== '') return this.find(dc, 'resourcePool', path);
    const pools = await this.list(dc, 'resourcePool');
    if (pools.length === 1) return pools[0].ref;
    const roots = pools.filter((p) => /\/Resources$/.test(p.path));
    if (roots.length === 1) return roots[0].ref;
    if (pools.length === 0) throw new InventoryNotFoundError('resourcePool', undefined, []);
    throw new InventoryAmbiguousError(
      'resourcePool',
      (roots.length ? roots : pools).map((p) => p.path),
    );
  }

  /** Every object of a kind in the datacenter, with its inventory path. */
  async list(dc: Datacenter, kind: Exclude<InventoryKind, 'datacenter'>): Promise<InventoryItem[]> {
    const wanted = KIND_TYPES[kind];
    const entities = await this.pc.withContainerView(dc.ref, [...new Set([...wanted, ...ANCESTOR_TYPES])], (view) =>
      this.pc.retrieve(view, 'ManagedEntity', ['name', 'parent']),
    );
    const byId = new Map(entities.map((e) => [e.obj.value, e]));
    const pathOf = (ref: ManagedObjectReference): string => {
      const names: string[] = [];
      let cur: ManagedObjectReference | undefined = ref;
      for (let depth = 0; cur && cur.value !== dc.ref.value && depth < 64; depth++) {
        const entity = byId.get(cur.value);
        if (!entity) break;
        names.unshift(escapeInventoryName(String(entity.props.name ?? cur.value)));
        cur = entity.props.parent as ManagedObjectReference | undefined;
      }
      return `${dc.path}/${names.join('/')}`;
    };
    return entities
      .filter((e) => wanted.includes(e.obj.type) || (kind === 'network' && isNetworkType(e.obj.type)))
      .filter((e) => kind !== 'folder' || isVmFolderPath(pathOf(e.obj), dc))
      .map((e) => ({ ref: e.obj, name: String(e.props.name ?? ''), path: pathOf(e.obj) }))
      .sort((a, b) => a.path.localeCompare(b.path));
  }

  /** Every datacenter, with its inventory path (datacenters may sit in folders). */
  async listDatacenters(): Promise<InventoryItem[]> {
    const root = this.client.serviceContent.rootFolder;
    const entities = await this.pc.withContainerView(root, ['Datacenter', 'Folder'], (view) =>
      this.pc.retrieve(view, 'ManagedEntity', ['name', 'parent']),
    );
    const byId = new Map(entities.map((e) => [e.obj.value, e]));
    const pathOf = (ref: ManagedObjectReference): string => {
      const names: string[] = [];
      let cur: ManagedObjectReference | undefined = ref;
      for (let depth = 0; cur && cur.value !== root.value && depth < 64; depth++) {
        const entity = byId.get(cur.value);
        if (!entity) break;
        names.unshift(escapeInventoryName(String(entity.props.name ?? cur.value)));
        cur = entity.props.parent as ManagedObjectReference | undefined;
      }
      return `/${names.join('/')}`;
    };
    return entities
      .filter((e) => e.obj.type === 'Datacenter')
      .map((e) => ({ ref: e.obj, name: String(e.props.name ?? ''), path: pathOf(e.obj) }))
      .sort((a, b) => a.path.localeCompare(b.path));
  }

  private find(
    dc: Datacenter,
    kind: Exclude<InventoryKind, 'datacenter'>,
    path: string | undefined,
  ): Promise<ManagedObjectReference> {
    return this.resolve(
      kind,
      path,
      () => this.list(dc, kind),
      (p) => `${dc.path}/${KIND_FOLDER[kind]}/${p}`,
    );
  }

  /**
   * The one object at `path` (absolute, or made absolute by `absolute`), or found by name
   * among the listed candidates; with no path, the only candidate.
   */
  private async resolve(
    kind: InventoryKind,
    path: string | undefined,
    candidates: () => Promise<InventoryItem[]>,
    absolute: (relative: string) => string,
  ): Promise<ManagedObjectReference> {
    const types = KIND_TYPES[kind];
    const fits = (ref: ManagedObjectReference): boolean =>
      types.includes(ref.type) || (kind === 'network' && isNetworkType(ref.type));
    if (path !== undefined && path !== '') {
      const full = path.startsWith('/') ? path : absolute(path);
      const ref = await this.findByPath(full);
      if (ref && fits(ref)) return ref;
      const all = await candidates();
      // A bare name is accepted when it names exactly one object of the kind.
      const byName = path.includes('/') ? [] : all.filter((c) => c.name === path);
      if (byName.length === 1) return byName[0].ref;
      if (byName.length > 1)
        throw new InventoryAmbiguousError(
          kind,
          byName.map((c) => c.path),
        );
      throw new InventoryNotFoundError(
        kind,
        ref ? `${path} (that is a ${ref.type})` : path,
        all.map((c) => c.path),
      );
    }
    const all = await candidates();
    if (all.length === 1) return all[0].ref;
    if (all.length === 0) throw new InventoryNotFoundError(kind, undefined, []);
    throw new InventoryAmbiguousError(
      kind,
      all.map((c) => c.path),
    );
  }
}

function isNetworkType(type: string): boolean {
  return type === 'Network' || type === 'DistributedVirtualPortgroup' || type === 'OpaqueNetwork';
}

/** VM folders are those under the datacenter's `vm` folder (the kind `folder` means VM folders). */
function isVmFolderPath(path: string, dc: Datacenter): boolean {
  return path === `${dc.path}/vm` || path.startsWith(`${dc.path}/vm/`);
}
