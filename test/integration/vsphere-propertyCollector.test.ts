/**
 * The property collector against vcsim with a 2000-VM model: paged retrieval (the box pages like
 * vCenter: maxObjects, single-use tokens, 100 objects a page when maxObjects is unset; see
 * src/simulator/vcsim/retrieve_paging.go), container views, the typed retrieve helper, missing
 * properties and objects, and the faults the server gives.
 */

import type { VimClient } from '../../src/vsphere/client';
import { InvalidArgumentError, ManagedObjectNotFoundError, VimFault } from '../../src/vsphere/faults';
import { PropertyCollector } from '../../src/vsphere/propertyCollector';
import type { ObjectSpec, PropertyFilterSpec, SelectionSpec } from '../../src/vsphere/vim25/generated/types';
import type { ManagedObjectReference } from '../../src/vsphere/vim25/values';
import { startVsphereSession, type VsphereSession } from '../helpers/vsphereSession';

const VM_COUNT = 2000;

// The projects' testTimeout is not applied when jest runs a single file; set it here.
jest.setTimeout(120_000);

let session: VsphereSession;
let client: VimClient;
let pc: PropertyCollector;

/** Counts the SOAP calls made by method, to see paging and cleanup happen on the wire. */
function countCalls(c: VimClient): Map<string, number> {
  const counts = new Map<string, number>();
  const original = c.invoke.bind(c);
  c.invoke = ((method, self, params, opts) => {
    counts.set(method, (counts.get(method) ?? 0) + 1);
    return original(method, self, params, opts);
  }) as VimClient['invoke'];
  return counts;
}

/** Undoes countCalls: the prototype's invoke shows through again. */
function restoreCalls(c: VimClient): void {
  delete (c as { invoke?: unknown }).invoke;
}

beforeAll(async () => {
  session = await startVsphereSession({ simulator: { vms: VM_COUNT }, updates: false });
  ({ client } = session);
  pc = new PropertyCollector(client);
});

afterAll(async () => {
  await session?.close();
});

describe('container views and paging', () => {
  it('lists all 2000 VMs through a container view, maxObjects 500 at a time: 4 pages tied by tokens', async () => {
    const counts = countCalls(client);
    const view = await pc.createContainerView(client.serviceContent.rootFolder, ['VirtualMachine']);
    try {
      const pageSizes: number[] = [];
      const names = new Set<string>();
      const refs = new Set<string>();
      for await (const page of pc.pages(
        [
          {
            propSet: [{ type: 'VirtualMachine', pathSet: ['name', 'runtime.powerState'] }],
            objectSet: [containerSpec(view.ref)],
          },
        ],
        { maxObjects: 500 },
      )) {
        pageSizes.push(page.length);
        for (const o of page) {
          refs.add(o.obj.value);
          const name = o.propSet?.find((p) => p.name === 'name')?.val;
          if (typeof name === 'string') names.add(name);
        }
      }
      expect(pageSizes).toEqual([500, 500, 500, 500]);
      expect(refs.size).toBe(VM_COUNT);
      expect(names.size).toBe(VM_COUNT);
      // One RetrievePropertiesEx, then one ContinueRetrievePropertiesEx per token; nothing to cancel.
      expect(counts.get('RetrievePropertiesEx')).toBe(1);
      expect(counts.get('ContinueRetrievePropertiesEx')).toBe(3);
      expect(counts.get('CancelRetrievePropertiesEx')).toBeUndefined();
    } finally {
      restoreCalls(client);
      await view.destroy();
    }
  });

  it('hands out a token per page and takes each token only once', async () => {
    const view = await pc.createContainerView(client.serviceContent.rootFolder, ['VirtualMachine']);
    try {
      const first = await client.invoke('RetrievePropertiesEx', pc.ref, {
        specSet: [vmNames(view.ref)],
        options: { maxObjects: 500 },
      });
      expect(first?.objects).toHaveLength(500);
      const token = first?.token;
      expect(typeof token).toBe('string');
      const second = await client.invoke('ContinueRetrievePropertiesEx', pc.ref, { token: token! });
      expect(second.objects).toHaveLength(500);
      expect(second.token).toBeTruthy();
      expect(second.token).not.toBe(token);
      // A used token is gone, as on vCenter.
      const err = await client.invoke('ContinueRetrievePropertiesEx', pc.ref, { token: token! }).catch((e) => e);
      expect(err).toBeInstanceOf(InvalidArgumentError);
      await client.invoke('CancelRetrievePropertiesEx', pc.ref, { token: second.token! });
    } finally {
      await view.destroy();
    }
  });

  it('pages a large result even without maxObjects (vCenter policy: 100 objects a page)', async () => {
    const counts = countCalls(client);
    const view = await pc.createContainerView(client.serviceContent.rootFolder, ['VirtualMachine']);
    try {
      const sizes: number[] = [];
      for await (const page of pc.pages([vmNames(view.ref)])) sizes.push(page.length);
      expect(sizes).toEqual(Array.from({ length: VM_COUNT / 100 }, () => 100));
      expect(counts.get('ContinueRetrievePropertiesEx')).toBe(VM_COUNT / 100 - 1);
    } finally {
      restoreCalls(client);
      await view.destroy();
    }
  });

  it('retrieve() maps a view to {obj, props} with typed keys', async () => {
    const vms = await pc.withContainerView(client.serviceContent.rootFolder, ['VirtualMachine'], (view) =>
      pc.retrieve(view, 'VirtualMachine', ['name', 'runtime.powerState', 'config.extraConfig'], { maxObjects: 500 }),
    );
    expect(vms).toHaveLength(VM_COUNT);
    expect(new Set(vms.map((v) => v.obj.value)).size).toBe(VM_COUNT);
    const first = vms[0];
    expect(first.obj.type).toBe('VirtualMachine');
    expect(typeof first.props.name).toBe('string');
    expect(['poweredOn', 'poweredOff', 'suspended']).toContain(first.props['runtime.powerState']);
    expect(Array.isArray(first.props['config.extraConfig'])).toBe(true);
  });

  it('destroys the view after withContainerView, so the view is gone on the server', async () => {
    let ref: ManagedObjectReference | undefined;
    await pc.withContainerView(client.serviceContent.rootFolder, ['Datacenter'], async (view) => {
      ref = view.ref;
      const dcs = await pc.retrieve(view, 'Datacenter', ['name']);
      expect(dcs.map((d) => d.props.name)).toEqual(['DC0']);
    });
    await expect(client.invoke('DestroyView', ref!, {})).rejects.toBeInstanceOf(ManagedObjectNotFoundError);
  });

  it('cancels the token when the consumer stops early; the token is then dead on the server', async () => {
    const calls: string[] = [];
    const tokens: string[] = [];
    const original = client.invoke.bind(client);
    client.invoke = (async (method, self, params, opts) => {
      calls.push(method);
      const result = await original(method, self, params, opts);
      if (method === 'RetrievePropertiesEx') tokens.push((result as { token?: string } | undefined)?.token ?? '');
      return result;
    }) as VimClient['invoke'];
    const view = await pc.createContainerView(client.serviceContent.rootFolder, ['VirtualMachine']);
    try {
      let pages = 0;
      for await (const page of pc.pages([vmNames(view.ref)], { maxObjects: 500 })) {
        expect(page).toHaveLength(500);
        pages++;
        break;
      }
      expect(pages).toBe(1);
      expect(calls.slice(-2)).toEqual(['RetrievePropertiesEx', 'CancelRetrievePropertiesEx']);
      const [token] = tokens;
      expect(token).toBeTruthy();
      // The server dropped the rest: continuing with the cancelled token is InvalidArgument.
      const err = await original('ContinueRetrievePropertiesEx', pc.ref, { token }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as InvalidArgumentError).invalidProperty).toBe('token');
    } finally {
      client.invoke = original;
      await view.destroy();
    }
  });

  it('an unknown token is InvalidArgument for Continue and Cancel', async () => {
    for (const method of ['ContinueRetrievePropertiesEx', 'CancelRetrievePropertiesEx'] as const) {
      const err = await client.invoke(method, pc.ref, { token: 'no-such-token' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidArgumentError);
    }
  });

  it('a collector of its own pages too, with tokens of its own', async () => {
    const ref = await client.invoke('CreatePropertyCollector', pc.ref, {});
    const own = new PropertyCollector(client, ref);
    const view = await pc.createContainerView(client.serviceContent.rootFolder, ['VirtualMachine']);
    try {
      const first = await client.invoke('RetrievePropertiesEx', ref, {
        specSet: [vmNames(view.ref)],
        options: { maxObjects: 1500 },
      });
      expect(first?.objects).toHaveLength(1500);
      // Tokens belong to the collector that gave them out.
      const err = await client.invoke('ContinueRetrievePropertiesEx', pc.ref, { token: first!.token! }).catch((e) => e);
      expect(err).toBeInstanceOf(InvalidArgumentError);
      const rest = await client.invoke('ContinueRetrievePropertiesEx', ref, { token: first!.token! });
      expect(rest.objects).toHaveLength(VM_COUNT - 1500);
      expect(rest.token).toBeUndefined();
      expect(await own.retrieveContents([vmNames(view.ref)], { maxObjects: 700 })).toHaveLength(VM_COUNT);
    } finally {
      await view.destroy();
      await client.invoke('DestroyPropertyCollector', ref, {});
    }
  });

  it('CreateContainerView on something that is not a container is InvalidArgument', async () => {
    const [vm] = await someVms(1);
    const err = await pc.createContainerView(vm, ['VirtualMachine']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).invalidProperty).toBe('container');
  });
});

describe('missing properties and objects', () => {
  it('leaves unset properties out of props instead of failing', async () => {
    const [vm] = await someVms(1);
    // A VM without a snapshot has no `snapshot` property set: absent, not an error.
    const { props, missing } = await pc.retrieveOne(vm, ['name', 'snapshot']);
    expect(typeof props.name).toBe('string');
    expect('snapshot' in props).toBe(false);
    expect(missing).toEqual({});
  });

  it('lists a path the server cannot read in missing, with its fault', async () => {
    const [vm] = await someVms(1);
    // vcsim reports an unknown path in missingSet (vCenter faults the whole call with
    // InvalidProperty); either way the caller learns which path and why.
    const { props, missing } = await pc.retrieveOne(vm, ['name', 'no.such.property']);
    expect(typeof props.name).toBe('string');
    expect(missing['no.such.property']?.fault._type).toBe('InvalidProperty');
  });

  it('failOnMissing turns a missing property into its typed fault', async () => {
    const [vm] = await someVms(1);
    const err = await pc
      .retrieveOne(vm, ['name', 'no.such.property'], { failOnMissing: true })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VimFault);
    expect((err as VimFault).faultName).toBe('InvalidProperty');
  });

  it('a reference to an object that does not exist is ManagedObjectNotFound', async () => {
    const gone = { type: 'VirtualMachine', value: 'vm-does-not-exist' };
    const err = await pc.retrieveOne(gone, ['name']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ManagedObjectNotFoundError);
    expect((err as ManagedObjectNotFoundError).obj).toEqual(gone);
  });

  it('reportMissingObjectsInResults skips missing objects instead of failing', async () => {
    const [vm] = await someVms(1);
    const contents = await pc.retrieveContents([
      {
        propSet: [{ type: 'VirtualMachine', pathSet: ['name'] }],
        objectSet: [{ obj: vm }, { obj: { type: 'VirtualMachine', value: 'vm-gone' } }],
        reportMissingObjectsInResults: true,
      },
    ]);
    expect(contents.map((c) => c.obj.value)).toEqual([vm.value]);
  });

  it('retrieve([]) asks nothing of the server', async () => {
    expect(await pc.retrieve([], 'VirtualMachine', ['name'])).toEqual([]);
  });
});

function vmNames(view: ManagedObjectReference): PropertyFilterSpec {
  return { propSet: [{ type: 'VirtualMachine', pathSet: ['name'] }], objectSet: [containerSpec(view)] };
}

function containerSpec(view: ManagedObjectReference): ObjectSpec {
  return {
    obj: view,
    skip: true,
    selectSet: [
      { _type: 'TraversalSpec', name: 'v', type: 'ContainerView', path: 'view', skip: false } as SelectionSpec,
    ],
  };
}

async function someVms(n: number): Promise<ManagedObjectReference[]> {
  const vms = await pc.withContainerView(client.serviceContent.rootFolder, ['VirtualMachine'], (view) =>
    pc.retrieve(view, 'VirtualMachine', []),
  );
  return vms.slice(0, n).map((v) => v.obj);
}
