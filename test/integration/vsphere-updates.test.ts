/**
 * The WaitForUpdatesEx loop against vcsim: watchers see changes pushed by the server (no
 * polling), filters come and go with watchers, the loop recovers when its collector
 * vanishes, pauses when idle, and close() leaves nothing pending.
 */
import type { VimClient } from '../../src/vsphere/client';
import { ManagedObjectNotFoundError } from '../../src/vsphere/faults';
import { PropertyCollector } from '../../src/vsphere/propertyCollector';
import { closeUpdatesFor, type PropertyUpdate, sameValue, UpdatesLoop, updatesFor } from '../../src/vsphere/updates';
import type { ManagedObjectReference } from '../../src/vsphere/vim25/values';
import { powerOff, powerOn, setExtraConfig } from '../../src/vsphere/virtualMachine';
import { connectToSimulator, startVsphereSession, type VsphereSession } from '../helpers/vsphereSession';

jest.setTimeout(60_000);

let session: VsphereSession;
let client: VimClient;
let updates: UpdatesLoop;
const errors: unknown[] = [];
const calls: string[] = [];

beforeAll(async () => {
  session = await startVsphereSession({
    // Record every SOAP method, to prove the loop waits instead of polling.
    onConnect: (c) => {
      const original = c.invoke.bind(c);
      c.invoke = ((method, self, params, opts) => {
        calls.push(method);
        return original(method, self, params, opts);
      }) as VimClient['invoke'];
    },
    updates: { idlePauseMs: 200, onError: (e) => errors.push(e) },
  });
  ({ client } = session);
  updates = session.ctx.updates;
});

afterAll(async () => {
  await session?.close();
});

async function poweredOnVm(): Promise<ManagedObjectReference> {
  const pc = new PropertyCollector(client);
  const vms = await pc.withContainerView(client.serviceContent.rootFolder, ['VirtualMachine'], (v) =>
    pc.retrieve(v, 'VirtualMachine', ['runtime.powerState']),
  );
  const vm = vms.find((v) => v.props['runtime.powerState'] === 'poweredOn');
  if (!vm) throw new Error('the model has no powered-on VM');
  return vm.obj;
}

/** Resolves with the first update `pred` accepts. */
function nextUpdate(
  seen: PropertyUpdate[],
  pred: (u: PropertyUpdate) => boolean,
  timeoutMs = 10_000,
): Promise<PropertyUpdate> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const check = (): void => {
      const hit = seen.find(pred);
      if (hit) resolve(hit);
      else if (Date.now() - started > timeoutMs)
        reject(new Error(`no matching update in ${timeoutMs} ms: ${JSON.stringify(seen)}`));
      else setTimeout(check, 20);
    };
    check();
  });
}

const ctx = () => ({ client, updates });

describe('watchers', () => {
  it('reports the current value first, then a power state change pushed by the server', async () => {
    const vm = await poweredOnVm();
    const seen: PropertyUpdate[] = [];
    const unsubscribe = await updates.watch(vm, ['runtime.powerState'], (u) => seen.push(u));
    try {
      await nextUpdate(seen, (u) => u.kind === 'enter' && u.values['runtime.powerState'] === 'poweredOn');
      const before = calls.length;
      await powerOff(ctx(), vm);
      const off = await nextUpdate(seen, (u) => u.changes['runtime.powerState'] === 'poweredOff');
      expect(off.kind).toBe('modify');
      expect(off.obj).toEqual(vm);
      // Between the power-off and the report, only the task machinery ran: no RetrieveProperties
      // of the VM, just the long-poll (and the task's own one-time read).
      const during = calls.slice(before);
      expect(during.filter((m) => m === 'WaitForUpdatesEx').length).toBeGreaterThanOrEqual(1);
      expect(during.filter((m) => m === 'RetrievePropertiesEx').length).toBeLessThanOrEqual(2);
      await powerOn(ctx(), vm);
      await nextUpdate(seen, (u) => u.kind === 'modify' && u.changes['runtime.powerState'] === 'poweredOn');
    } finally {
      await unsubscribe();
    }
  });

  it('sees extraConfig written by ReconfigVM_Task', async () => {
    const vm = await poweredOnVm();
    const seen: PropertyUpdate[] = [];
    const unsubscribe = await updates.watch(vm, ['config.extraConfig'], (u) => seen.push(u));
    try {
      await setExtraConfig(ctx(), vm, { 'guestinfo.vch.watch': 'hello' });
      await nextUpdate(seen, (u) =>
        JSON.stringify(u.values['config.extraConfig'] ?? []).includes('guestinfo.vch.watch'),
      );
    } finally {
      await unsubscribe();
    }
  });

  it('never reports a value older than one it already reported', async () => {
    // Changes made right after CreateFilter, before the server has entered the object into the
    // filter: the enter carries the newest value, and no older one may follow it (vCenter's
    // rule; vcsim 0.24.2 sent the queued changes again after the enter: 50, 10, 20, ...).
    const info = await client.invoke('CreateTask', client.serviceContent.taskManager!, {
      obj: client.serviceContent.rootFolder,
      taskTypeId: 'com.example.vch.test',
      cancelable: false,
    });
    const task = info.task;
    await client.invoke('SetTaskState', task, { state: 'running' });
    const seen: number[] = [];
    const unsubscribe = await updates.watch(task, ['info.progress'], (u) => {
      const p = u.changes['info.progress'];
      if (typeof p === 'number') seen.push(p);
    });
    try {
      for (const percentDone of [10, 20, 30, 40, 50]) {
        await client.invoke('UpdateProgress', task, { percentDone });
      }
      await waitFor(() => seen.includes(50), 10_000);
      // Let a few more collector ticks pass: a stale repeat would arrive after the 50.
      await new Promise((r) => setTimeout(r, 800));
      expect(seen.length).toBeGreaterThan(0);
      for (let i = 1; i < seen.length; i++) {
        if (seen[i]! < seen[i - 1]!) throw new Error(`went back: ${seen.join(', ')}`);
      }
      expect(seen[seen.length - 1]).toBe(50);
    } finally {
      await unsubscribe();
      await client.invoke('SetTaskState', task, { state: 'success' }).catch(() => undefined);
    }
  });

  it('creates one filter per watcher and destroys it on unsubscribe', async () => {
    const vm = await poweredOnVm();
    const before = calls.length;
    const a = await updates.watch(vm, ['name'], () => undefined);
    const b = await updates.watch(vm, ['runtime.powerState'], () => undefined);
    expect(updates.watcherCount).toBeGreaterThanOrEqual(2);
    await a();
    await b();
    await a(); // twice is harmless
    const made = calls.slice(before);
    expect(made.filter((m) => m === 'CreateFilter')).toHaveLength(2);
    expect(made.filter((m) => m === 'DestroyPropertyFilter')).toHaveLength(2);
  });

  it('rejects a watch of an object that does not exist', async () => {
    const gone = { type: 'VirtualMachine', value: 'vm-404' };
    await expect(updates.watch(gone, ['name'], () => undefined)).rejects.toBeInstanceOf(ManagedObjectNotFoundError);
  });

  it('pauses the long-poll when the last watcher leaves, and resumes with the next', async () => {
    const vm = await poweredOnVm();
    const off = await updates.watch(vm, ['name'], () => undefined);
    expect(updates.isWaiting).toBe(true);
    await off();
    await waitFor(() => !updates.isWaiting, 5000);
    const seen: PropertyUpdate[] = [];
    const again = await updates.watch(vm, ['runtime.powerState'], (u) => seen.push(u));
    expect(updates.isWaiting).toBe(true);
    await powerOff(ctx(), vm);
    await nextUpdate(seen, (u) => u.changes['runtime.powerState'] === 'poweredOff');
    await powerOn(ctx(), vm);
    await again();
  });

  it('recovers when its collector disappears: new collector, filters made again', async () => {
    const vm = await poweredOnVm();
    const seen: PropertyUpdate[] = [];
    const unsubscribe = await updates.watch(vm, ['runtime.powerState'], (u) => seen.push(u));
    try {
      // Destroying the loop's collector from outside is what a lost session does to it.
      const collector = (updates as unknown as { collector: ManagedObjectReference }).collector;
      await client.invoke('DestroyPropertyCollector', collector, {});
      await waitFor(() => errors.some((e) => e instanceof ManagedObjectNotFoundError), 10_000);
      await waitFor(
        () => (updates as unknown as { collector: ManagedObjectReference }).collector.value !== collector.value,
        10_000,
      );
      seen.length = 0;
      await powerOff(ctx(), vm);
      await nextUpdate(seen, (u) => u.values['runtime.powerState'] === 'poweredOff');
      await powerOn(ctx(), vm);
    } finally {
      await unsubscribe();
    }
  });
});

describe('session loss', () => {
  it('keeps watchers working after the session is terminated and the client logs in again', async () => {
    const vm = await poweredOnVm();
    const seen: PropertyUpdate[] = [];
    const unsubscribe = await updates.watch(vm, ['runtime.powerState'], (u) => seen.push(u));
    const admin = await connectToSimulator(session.sim);
    try {
      const key = client.session?.key;
      if (!key) throw new Error('the client has no session');
      // An administrator (or vCenter's idle timeout) ends our session: every session-scoped
      // object, the loop's collector and filters included, is gone with it.
      await admin.invoke('TerminateSession', admin.serviceContent.sessionManager!, { sessionId: [key] });
      await powerOff(ctx(), vm); // the client logs in again here
      await nextUpdate(seen, (u) => u.values['runtime.powerState'] === 'poweredOff');
      seen.length = 0;
      await powerOn(ctx(), vm);
      await nextUpdate(seen, (u) => u.values['runtime.powerState'] === 'poweredOn');
      expect(client.session?.key).not.toBe(key);
    } finally {
      await unsubscribe();
      await admin.logout().catch(() => undefined);
      await admin.close();
    }
  });
});

describe('close', () => {
  it('cancels a pending wait at once and leaves nothing running', async () => {
    const loop = await UpdatesLoop.start(client, { maxWaitSeconds: 600 });
    const vm = await poweredOnVm();
    await loop.watch(vm, ['name'], () => undefined);
    expect(loop.isWaiting).toBe(true);
    // Let the first wait reach the server and block there.
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    await loop.close();
    // CancelWaitForUpdates ends it, well before the grace period that would abort the request.
    expect(Date.now() - started).toBeLessThan(1500);
    expect(loop.isWaiting).toBe(false);
    await expect(loop.watch(vm, ['name'], () => undefined)).rejects.toThrow(/closed/);
  });
});

describe('one loop per session', () => {
  it('updatesFor gives every caller the same loop until closeUpdatesFor', async () => {
    const a = await updatesFor(client);
    expect(await updatesFor(client)).toBe(a);
    await closeUpdatesFor(client);
    await expect(a.watch(client.serviceContent.rootFolder, ['name'], () => undefined)).rejects.toThrow(/closed/);
    const b = await updatesFor(client);
    expect(b).not.toBe(a);
    await closeUpdatesFor(client);
  });
});

describe('sameValue', () => {
  it('compares decoded values structurally', () => {
    expect(sameValue({ a: 1, b: [1, 2] }, { a: 1, b: [1, 2] })).toBe(true);
    expect(sameValue({ a: 1 }, { a: 2 })).toBe(false);
    expect(sameValue(new Date(1), new Date(1))).toBe(true);
    expect(sameValue({ a: undefined, b: 1 }, { b: 1 })).toBe(true);
  });
});

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const started = Date.now();
  while (!cond()) {
    if (Date.now() - started > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}
