/**
 * Every VirtualMachine's watched properties, pushed by the server: a container view of all
 * VMs under the root folder, one filter over it on a PropertyCollector of the agent's own,
 * and a WaitForUpdatesEx loop. (The session's UpdatesLoop watches single objects; the agent
 * needs VMs that appear later too, which only a view gives without polling.)
 */
import type { VimClient } from '../../vsphere/client';
import { containerViewObjectSpec, PropertyCollector } from '../../vsphere/propertyCollector';
import type { ObjectUpdate, PropertyFilterSpec, UpdateSet } from '../../vsphere/vim25/generated/types';
import type { ManagedObjectReference } from '../../vsphere/vim25/values';
import { WATCHED_PATHS, type WatchedValues } from './vmConfig';

export interface VmUpdate {
  readonly vm: ManagedObjectReference;
  readonly kind: 'enter' | 'modify' | 'leave';
  readonly values: WatchedValues;
}

export interface VmWatch {
  close(): Promise<void>;
}

const MAX_WAIT_SECONDS = 30;

export async function watchVirtualMachines(
  client: VimClient,
  onUpdate: (u: VmUpdate) => void,
  onError: (err: unknown) => void,
): Promise<VmWatch> {
  const sc = client.serviceContent;
  const collector = await client.invoke('CreatePropertyCollector', sc.propertyCollector, {});
  const views = new PropertyCollector(client);
  const view = await views.createContainerView(sc.rootFolder, ['VirtualMachine']);
  const spec: PropertyFilterSpec = {
    propSet: [{ type: 'VirtualMachine', pathSet: [...WATCHED_PATHS] }],
    objectSet: [containerViewObjectSpec(view.ref)],
  };
  await client.invoke('CreateFilter', collector, { spec, partialUpdates: false });

  const known = new Map<string, Record<string, unknown>>();
  const apply = (u: ObjectUpdate) => {
    const key = u.obj.value;
    if (u.kind === 'leave') {
      if (known.delete(key)) onUpdate({ vm: u.obj, kind: 'leave', values: {} });
      return;
    }
    const first = !known.has(key);
    const values = known.get(key) ?? {};
    for (const c of u.changeSet ?? []) {
      values[c.name] = c.op === 'remove' || c.op === 'indirectRemove' ? undefined : c.val;
    }
    known.set(key, values);
    onUpdate({ vm: u.obj, kind: first ? 'enter' : 'modify', values: { ...values } as WatchedValues });
  };

  let closed = false;
  let abort: AbortController | undefined;
  const loop = (async () => {
    let version = '';
    let backoff = 100;
    while (!closed) {
      abort = new AbortController();
      try {
        const set: UpdateSet | undefined = await client.invoke(
          'WaitForUpdatesEx',
          collector,
          { version, options: { maxWaitSeconds: MAX_WAIT_SECONDS } },
          { signal: abort.signal },
        );
        backoff = 100;
        if (!set || closed) continue;
        version = set.version;
        for (const f of set.filterSet ?? []) for (const u of f.objectSet ?? []) apply(u);
      } catch (err) {
        if (closed) return;
        onError(err);
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 5000);
        version = '';
      }
    }
  })();

  return {
    close: async () => {
      if (closed) return;
      closed = true;
      await client.invoke('CancelWaitForUpdates', collector, {}).catch(() => undefined);
      const grace = setTimeout(() => abort?.abort(new Error('VM watch closed')), 1000);
      await loop;
      clearTimeout(grace);
      await client.invoke('DestroyPropertyCollector', collector, {}).catch(() => undefined);
      await view.destroy().catch(() => undefined);
    },
  };
}
