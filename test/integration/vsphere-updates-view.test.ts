/**
 * UpdatesLoop.watchView against vcsim: every VM of a container view, per-object updates
 * (enter / modify / leave) on the session's one loop, recovery after the collector or the
 * whole session is lost, and nothing left on the server after unsubscribe.
 */
import type { VimClient } from '../../src/vsphere/client';
import { ManagedObjectNotFoundError } from '../../src/vsphere/faults';
import { Inventory } from '../../src/vsphere/inventory';
import { PropertyCollector } from '../../src/vsphere/propertyCollector';
import type { VimContext } from '../../src/vsphere/tasks';
import { type PropertyUpdate, UpdatesLoop } from '../../src/vsphere/updates';
import type { ManagedObjectReference } from '../../src/vsphere/vim25/values';
import {
  createVM,
  destroyVM,
  newVmConfigSpec,
  powerOff,
  powerOn,
  setExtraConfig,
  type VmPlacement,
} from '../../src/vsphere/virtualMachine';
import { connectToSimulator, startVsphereSession, type VsphereSession } from '../helpers/vsphereSession';

jest.setTimeout(60_000);

const DS = 'LocalDS_0';
const PATHS = ['name', 'runtime.powerState', 'config.extraConfig'];

let session: VsphereSession;
let client: VimClient;
let updates: UpdatesLoop;
let placement: VmPlacement;
const errors: unknown[] = [];
const calls: string[] = [];
/** Every ContainerView the client made, newest last. */
const viewsMade: ManagedObjectReference[] = [];

beforeAll(async () => {
  session = await startVsphereSession({
    onConnect: (c) => {
      const original = c.invoke.bind(c);
      c.invoke = (async (method, self, params, opts) => {
        calls.push(method);
        const result = await original(method, self, params, opts);
        if (method === 'CreateContainerView') viewsMade.push(result as ManagedObjectReference);
        return result;
      }) as VimClient['invoke'];
    },
    updates: { idlePauseMs: 200, onError: (e) => errors.push(e) },
  });
  ({ client } = session);
  updates = session.ctx.updates;
  const inventory = new Inventory(client);
  const dc = await inventory.datacenter();
  placement = { folder: await inventory.folder(dc), pool: await inventory.resourcePool(dc, 'DC0_C0/Resources') };
});

afterAll(async () => {
  await session?.close();
});

const ctx = (): VimContext => ({ client, updates });
let counter = 0;
const uniqueName = () => `view-${process.pid}-${++counter}`;

function newVm(c: VimContext = ctx()): Promise<ManagedObjectReference> {
  return createVM(c, placement, newVmConfigSpec({ name: uniqueName(), datastore: DS }));
}

async function allVms(): Promise<string[]> {
  const pc = new PropertyCollector(client);
  const vms = await pc.withContainerView(client.serviceContent.rootFolder, ['VirtualMachine'], (v) =>
    pc.retrieve(v, 'VirtualMachine', ['name']),
  );
  return vms.map((v) => v.obj.value).sort();
}

/** Resolves with the first update `pred` accepts. */
async function nextUpdate(
  seen: PropertyUpdate[],
  pred: (u: PropertyUpdate) => boolean,
  timeoutMs = 10_000,
): Promise<PropertyUpdate> {
  const started = Date.now();
  for (;;) {
    const hit = seen.find(pred);
    if (hit) return hit;
    if (Date.now() - started > timeoutMs) {
      throw new Error(`no matching update in ${timeoutMs} ms: ${JSON.stringify(seen.map(brief))}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

const brief = (u: PropertyUpdate) => ({ obj: u.obj.value, kind: u.kind, changes: Object.keys(u.changes) });
const of = (vm: ManagedObjectReference) => (u: PropertyUpdate) => u.obj.value === vm.value;
const extraConfigHas = (u: PropertyUpdate, key: string) =>
  JSON.stringify(u.values['config.extraConfig'] ?? []).includes(key);

function watchAll(seen: PropertyUpdate[]) {
  return updates.watchView(client.serviceContent.rootFolder, 'VirtualMachine', PATHS, (u) => seen.push(u));
}

describe('watchView', () => {
  it('enters every existing VM before resolving, then follows VMs created, changed and destroyed', async () => {
    const seen: PropertyUpdate[] = [];
    const stop = await watchAll(seen);
    try {
      const entered = seen.filter((u) => u.kind === 'enter').map((u) => u.obj.value);
      expect([...entered].sort()).toEqual(await allVms());
      expect(new Set(entered).size).toBe(entered.length); // each once
      const first = seen.find((u) => u.kind === 'enter')!;
      expect(first.obj.type).toBe('VirtualMachine');
      expect(Object.keys(first.values).sort()).toEqual([...PATHS].sort());

      const vm = await newVm();
      const enter = await nextUpdate(seen, (u) => of(vm)(u) && u.kind === 'enter');
      expect(enter.values['runtime.powerState']).toBe('poweredOff');

      await powerOn(ctx(), vm);
      const on = await nextUpdate(seen, (u) => of(vm)(u) && u.changes['runtime.powerState'] === 'poweredOn');
      expect(on.kind).toBe('modify');
      expect(on.values.name).toBe(enter.values.name);

      await setExtraConfig(ctx(), vm, { 'guestinfo.vch.view': 'hello' });
      const ec = await nextUpdate(seen, (u) => of(vm)(u) && extraConfigHas(u, 'guestinfo.vch.view'));
      expect(ec.kind).toBe('modify');
      expect(Object.keys(ec.changes)).toContain('config.extraConfig');

      await powerOff(ctx(), vm);
      await nextUpdate(seen, (u) => of(vm)(u) && u.changes['runtime.powerState'] === 'poweredOff');
      await destroyVM(ctx(), vm);
      const leave = await nextUpdate(seen, (u) => of(vm)(u) && u.kind === 'leave');
      expect(leave.values.name).toBe(enter.values.name); // the last known values
      // Nothing about it after it left.
      await new Promise((r) => setTimeout(r, 300));
      expect(seen.filter(of(vm)).at(-1)?.kind).toBe('leave');
    } finally {
      await stop();
    }
  });

  it('unsubscribe destroys the filter and the view', async () => {
    const before = calls.length;
    const stop = await watchAll([]);
    const view = viewsMade.at(-1)!;
    expect(calls.slice(before).filter((m) => m === 'CreateFilter')).toHaveLength(1);
    await stop();
    await stop(); // twice is harmless
    const made = calls.slice(before);
    expect(made.filter((m) => m === 'DestroyPropertyFilter')).toHaveLength(1);
    expect(made.filter((m) => m === 'DestroyView')).toHaveLength(1);
    // The view is gone on the server.
    await expect(client.invoke('DestroyView', view, {})).rejects.toBeInstanceOf(ManagedObjectNotFoundError);
    await waitFor(() => !updates.isWaiting, 5000);
  });

  it('recovers when its collector disappears: a new view and filter, changes not missed', async () => {
    const vm = await newVm();
    const seen: PropertyUpdate[] = [];
    const stop = await watchAll(seen);
    try {
      const view = viewsMade.at(-1)!;
      const collector = (updates as unknown as { collector: ManagedObjectReference }).collector;
      await client.invoke('DestroyPropertyCollector', collector, {});
      await powerOn(ctx(), vm); // meanwhile
      await nextUpdate(seen, (u) => of(vm)(u) && u.values['runtime.powerState'] === 'poweredOn');
      await waitFor(() => viewsMade.at(-1)!.value !== view.value, 10_000);
      // The old view is not left behind.
      await expect(client.invoke('DestroyView', view, {})).rejects.toBeInstanceOf(ManagedObjectNotFoundError);
      seen.length = 0;
      await powerOff(ctx(), vm);
      const off = await nextUpdate(seen, (u) => of(vm)(u) && u.changes['runtime.powerState'] === 'poweredOff');
      expect(off.kind).toBe('modify');
      expect(seen.filter((u) => u.kind === 'enter')).toEqual([]); // known VMs do not enter again
    } finally {
      await stop();
      await destroyVM(ctx(), vm);
    }
  });

  it('after TerminateSession and re-login, reports what changed while the session was gone', async () => {
    const changed = await newVm();
    const doomed = await newVm();
    const seen: PropertyUpdate[] = [];
    const stop = await watchAll(seen);
    const admin = await connectToSimulator(session.sim);
    const adminCtx: VimContext = { client: admin, updates: await UpdatesLoop.start(admin) };
    let born: ManagedObjectReference | undefined;
    try {
      const key = client.session?.key;
      if (!key) throw new Error('the client has no session');
      errors.length = 0;
      const views = viewsMade.length;
      await admin.invoke('TerminateSession', admin.serviceContent.sessionManager!, { sessionId: [key] });
      // Changes by someone else while our session is gone; the loop's next wait finds out.
      seen.length = 0;
      await powerOn(adminCtx, changed);
      await destroyVM(adminCtx, doomed);
      born = await newVm(adminCtx);
      const bornRef = born;
      await nextUpdate(seen, (u) => of(changed)(u) && u.values['runtime.powerState'] === 'poweredOn', 20_000);
      await nextUpdate(seen, (u) => of(doomed)(u) && u.kind === 'leave', 20_000);
      await nextUpdate(seen, (u) => of(bornRef)(u) && u.kind === 'enter', 20_000);
      expect(client.session?.key).not.toBe(key);
      expect(errors.length).toBeGreaterThan(0); // the lost session was noticed by the loop
      expect(viewsMade.length).toBeGreaterThan(views); // and the view made again
      // And it goes on working on the new session's view.
      seen.length = 0;
      await powerOff(ctx(), changed);
      await nextUpdate(seen, (u) => of(changed)(u) && u.changes['runtime.powerState'] === 'poweredOff');
      await destroyVM(ctx(), bornRef);
      await nextUpdate(seen, (u) => of(bornRef)(u) && u.kind === 'leave');
      born = undefined;
    } finally {
      await stop();
      if (born) await destroyVM(ctx(), born).catch(() => undefined);
      await destroyVM(ctx(), changed).catch(() => undefined);
      await adminCtx.updates.close();
      await admin.logout().catch(() => undefined);
      await admin.close();
    }
  });

  it('watches the direct children of a folder only when not recursive', async () => {
    const seen: PropertyUpdate[] = [];
    // The VMs are in the datacenter's vmFolder, not directly under the root folder.
    const stop = await updates.watchView(
      client.serviceContent.rootFolder,
      'VirtualMachine',
      ['name'],
      (u) => seen.push(u),
      {
        recursive: false,
      },
    );
    await stop();
    expect(seen).toEqual([]);
  });

  it('reports a throwing callback to the watch onError, and goes on', async () => {
    const own: unknown[] = [];
    let n = 0;
    const stop = await updates.watchView(
      client.serviceContent.rootFolder,
      'VirtualMachine',
      ['name'],
      () => {
        n++;
        throw new Error('callback failed');
      },
      { onError: (e) => own.push(e) },
    );
    await stop();
    expect(n).toBeGreaterThan(1);
    expect(own).toHaveLength(n);
  });
});

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const started = Date.now();
  while (!cond()) {
    if (Date.now() - started > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}
