/**
 * waitForTask against vcsim: results, typed faults from info.error, and the timeout and
 * abort paths (which must reject clearly and stop watching).
 *
 * vcsim 0.24.2 runs every task to completion inside the SOAP call that starts it, and has no
 * TaskManager.CreateTask / Task.SetTaskState / Task.UpdateProgress: no task is ever seen
 * queued or running, none reports info.progress, and TaskInProgress cannot be produced. The
 * timeout and abort tests therefore end the wait while its filter is still being set up (the
 * only window vcsim leaves), which exercises the same code paths: reject, then unsubscribe.
 * onProgress is covered as far as vcsim allows: it is never called with a made-up value.
 */
import type { RunningSimulator } from '../../src/simulator/vcsim/process';
import { VimClient } from '../../src/vsphere/client';
import { InvalidPowerStateError, isFault, ManagedObjectNotFoundError } from '../../src/vsphere/faults';
import { Inventory } from '../../src/vsphere/inventory';
import { PropertyCollector } from '../../src/vsphere/propertyCollector';
import { TaskAbortedError, TaskTimeoutError, type VimContext, waitForTask } from '../../src/vsphere/tasks';
import { UpdatesLoop } from '../../src/vsphere/updates';
import type { TaskInfo } from '../../src/vsphere/vim25/generated/types';
import type { ManagedObjectReference } from '../../src/vsphere/vim25/values';
import { newVmConfigSpec } from '../../src/vsphere/virtualMachine';
import { startTestSimulator } from '../helpers/simulator';

jest.setTimeout(60_000);

let sim: RunningSimulator;
let client: VimClient;
let ctx: VimContext;
let folder: ManagedObjectReference;
let pool: ManagedObjectReference;

beforeAll(async () => {
  sim = await startTestSimulator({});
  client = await VimClient.connect({
    url: sim.url,
    username: sim.username,
    password: sim.password,
    thumbprint: sim.thumbprint,
  });
  ctx = { client, updates: await UpdatesLoop.start(client) };
  const inventory = new Inventory(client);
  const dc = await inventory.datacenter();
  folder = dc.vmFolder;
  pool = await inventory.resourcePool(dc, 'DC0_C0/Resources');
});

afterAll(async () => {
  await ctx?.updates.close();
  await client?.logout().catch(() => undefined);
  await client?.close();
  await sim?.stop();
});

let counter = 0;
const startCreate = () =>
  client.invoke('CreateVM_Task', folder, {
    config: newVmConfigSpec({ name: `task-vm-${++counter}`, datastore: 'LocalDS_0' }),
    pool,
  });

async function untilNoWatchers(): Promise<void> {
  const started = Date.now();
  while (ctx.updates.watcherCount > 0) {
    if (Date.now() - started > 5000) throw new Error(`${ctx.updates.watcherCount} watchers left`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('waitForTask', () => {
  it('resolves with info.result', async () => {
    const task = await startCreate();
    expect(task.type).toBe('Task');
    const vm = await waitForTask<ManagedObjectReference>(ctx.updates, task);
    expect(vm.type).toBe('VirtualMachine');
    await untilNoWatchers();
  });

  it('resolves with undefined for a task without a result', async () => {
    const vm = await waitForTask<ManagedObjectReference>(ctx.updates, await startCreate());
    await expect(waitForTask(ctx.updates, await client.invoke('PowerOnVM_Task', vm, {}))).resolves.toBeUndefined();
  });

  it('rejects with the typed fault from info.error', async () => {
    const vm = await waitForTask<ManagedObjectReference>(ctx.updates, await startCreate());
    await waitForTask(ctx.updates, await client.invoke('PowerOnVM_Task', vm, {}));
    const task = await client.invoke('PowerOnVM_Task', vm, {});
    const err = await waitForTask(ctx.updates, task).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidPowerStateError);
    expect(isFault(err, 'InvalidPowerState') && err.existingState).toBe('poweredOn');
    // The task itself says the same.
    const { props } = await new PropertyCollector(client).retrieveOne(task, ['info']);
    expect((props.info as TaskInfo).state).toBe('error');
    await untilNoWatchers();
  });

  it('rejects for a task reference that does not exist', async () => {
    const err = await waitForTask(ctx.updates, { type: 'Task', value: 'task-404' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ManagedObjectNotFoundError);
    await untilNoWatchers();
  });

  it('does not call onProgress with values the server never sent', async () => {
    const progress: number[] = [];
    await waitForTask(ctx.updates, await startCreate(), { onProgress: (p) => progress.push(p) });
    // vcsim never sets info.progress; vSphere would report 0–100 here as the task runs.
    expect(progress.every((p) => p >= 0 && p <= 100)).toBe(true);
  });

  it('times out with TaskTimeoutError naming the task, and stops watching', async () => {
    const task = await startCreate();
    const err = await waitForTask(ctx.updates, task, { timeoutMs: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskTimeoutError);
    expect((err as TaskTimeoutError).message).toContain(task.value);
    expect((err as TaskTimeoutError).task).toEqual(task);
    await untilNoWatchers();
  });

  it('rejects with TaskAbortedError when the signal aborts, and stops watching', async () => {
    const task = await startCreate();
    const abort = new AbortController();
    const waiting = waitForTask(ctx.updates, task, { signal: abort.signal });
    abort.abort(new Error('the user pressed ^C'));
    const err = await waiting.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskAbortedError);
    expect((err as Error).message).toContain('the user pressed ^C');
    await untilNoWatchers();
  });

  it('rejects at once for a signal that is already aborted, without watching', async () => {
    const task = await startCreate();
    const abort = new AbortController();
    abort.abort();
    const calls = ctx.updates.watcherCount;
    await expect(waitForTask(ctx.updates, task, { signal: abort.signal })).rejects.toBeInstanceOf(TaskAbortedError);
    expect(ctx.updates.watcherCount).toBe(calls);
  });

  it('waits for many tasks at once on the one loop', async () => {
    const tasks = await Promise.all(Array.from({ length: 20 }, () => startCreate()));
    const vms = await Promise.all(tasks.map((t) => waitForTask<ManagedObjectReference>(ctx.updates, t)));
    expect(new Set(vms.map((v) => v.value)).size).toBe(20);
    await untilNoWatchers();
  });
});
