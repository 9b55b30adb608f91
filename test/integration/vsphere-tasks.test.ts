/**
 * waitForTask against vcsim: results, typed faults from info.error, progress, and the timeout
 * and abort paths (which must reject clearly and stop watching).
 *
 * vcsim's own tasks (CreateVM_Task, PowerOnVM_Task...) finish inside the call that starts them.
 * Tasks that are still running when the wait starts are made the way a vSphere extension makes
 * them: TaskManager.CreateTask, then Task.SetTaskState / Task.UpdateProgress from the test
 * (src/simulator/vcsim/running_tasks.go adds these to the box).
 */
import type { VimClient } from '../../src/vsphere/client';
import {
  InvalidArgumentError,
  InvalidPowerStateError,
  isFault,
  ManagedObjectNotFoundError,
  VimFault,
} from '../../src/vsphere/faults';
import { Inventory } from '../../src/vsphere/inventory';
import { PropertyCollector } from '../../src/vsphere/propertyCollector';
import { TaskAbortedError, TaskTimeoutError, type VimContext, waitForTask } from '../../src/vsphere/tasks';
import type { LocalizedMethodFault, TaskInfo } from '../../src/vsphere/vim25/generated/types';
import type { ManagedObjectReference } from '../../src/vsphere/vim25/values';
import { newVmConfigSpec } from '../../src/vsphere/virtualMachine';
import { startVsphereSession, type VsphereSession } from '../helpers/vsphereSession';

jest.setTimeout(60_000);

let session: VsphereSession;
let client: VimClient;
let ctx: VimContext;
let folder: ManagedObjectReference;
let pool: ManagedObjectReference;

beforeAll(async () => {
  session = await startVsphereSession();
  ({ client, ctx } = session);
  const inventory = new Inventory(client);
  const dc = await inventory.datacenter();
  folder = dc.vmFolder;
  pool = await inventory.resourcePool(dc, 'DC0_C0/Resources');
});

afterAll(async () => {
  await session?.close();
});

let counter = 0;
const startCreate = () =>
  client.invoke('CreateVM_Task', folder, {
    config: newVmConfigSpec({ name: `task-vm-${++counter}`, datastore: 'LocalDS_0' }),
    pool,
  });

/** A task on the VM folder that stays queued until the test drives it, as an extension would. */
async function createTask(cancelable = false): Promise<ManagedObjectReference> {
  const info = await client.invoke('CreateTask', client.serviceContent.taskManager!, {
    obj: folder,
    taskTypeId: 'com.example.vch.test',
    cancelable,
  });
  return info.task;
}

const setState = (
  task: ManagedObjectReference,
  state: TaskInfo['state'],
  extra: { result?: ManagedObjectReference; fault?: LocalizedMethodFault } = {},
) => client.invoke('SetTaskState', task, { state, ...extra });

async function until(what: string, ok: () => boolean): Promise<void> {
  const started = Date.now();
  while (!ok()) {
    if (Date.now() - started > 10_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function taskInfo(task: ManagedObjectReference): Promise<TaskInfo> {
  const { props } = await new PropertyCollector(client).retrieveOne(task, ['info']);
  return props.info as TaskInfo;
}

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

  it('reports progress of a running task, then resolves with the result SetTaskState gives', async () => {
    const task = await createTask();
    expect((await taskInfo(task)).state).toBe('queued');
    await setState(task, 'running');
    const progress: number[] = [];
    const waiting = waitForTask<ManagedObjectReference>(ctx.updates, task, { onProgress: (p) => progress.push(p) });
    await client.invoke('UpdateProgress', task, { percentDone: 10 });
    await until('progress 10', () => progress.includes(10));
    await client.invoke('UpdateProgress', task, { percentDone: 50 });
    await until('progress 50', () => progress.includes(50));
    await client.invoke('UpdateProgress', task, { percentDone: 90 });
    await until('progress 90', () => progress.includes(90));
    await setState(task, 'success', { result: folder });
    await expect(waiting).resolves.toEqual(folder);
    expect(progress).toEqual([10, 50, 90]);
    const info = await taskInfo(task);
    expect(info.state).toBe('success');
    expect(info.startTime).toBeInstanceOf(Date);
    expect(info.completeTime).toBeInstanceOf(Date);
    await untilNoWatchers();
  });

  it('rejects with the typed fault SetTaskState gives', async () => {
    const task = await createTask();
    await setState(task, 'running');
    const waiting = waitForTask(ctx.updates, task).catch((e: unknown) => e);
    await setState(task, 'error', {
      fault: {
        fault: { _type: 'InvalidPowerState', requestedState: 'poweredOn', existingState: 'suspended' },
        localizedMessage: 'the VM is suspended',
      } as LocalizedMethodFault,
    });
    const err = await waiting;
    expect(err).toBeInstanceOf(InvalidPowerStateError);
    expect(isFault(err, 'InvalidPowerState') && err.existingState).toBe('suspended');
    await untilNoWatchers();
  });

  it('times out with TaskTimeoutError while the task is still running, and stops watching', async () => {
    const task = await createTask();
    await setState(task, 'running');
    const err = await waitForTask(ctx.updates, task, { timeoutMs: 500 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskTimeoutError);
    expect((err as TaskTimeoutError).message).toContain(task.value);
    expect((err as TaskTimeoutError).task).toEqual(task);
    expect((err as TaskTimeoutError).lastState).toBe('running');
    await untilNoWatchers();
    // Giving up the wait leaves the task alone.
    expect((await taskInfo(task)).state).toBe('running');
    await setState(task, 'success');
  });

  it('rejects with TaskAbortedError when the signal aborts mid-task, and stops watching', async () => {
    const task = await createTask();
    await setState(task, 'running');
    const abort = new AbortController();
    // Abort once the wait has demonstrably seen the task running (its first progress report).
    const waiting = waitForTask(ctx.updates, task, {
      signal: abort.signal,
      onProgress: () => abort.abort(new Error('the user pressed ^C')),
    });
    await client.invoke('UpdateProgress', task, { percentDone: 20 });
    const err = await waiting.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskAbortedError);
    expect((err as Error).message).toContain('the user pressed ^C');
    await untilNoWatchers();
    expect((await taskInfo(task)).state).toBe('running');
    await setState(task, 'success');
  });

  it('marks a cancelable task cancelled on CancelTask; the driver finishes it with RequestCanceled', async () => {
    const task = await createTask(true);
    await setState(task, 'running');
    const waiting = waitForTask(ctx.updates, task).catch((e: unknown) => e);
    await client.invoke('CancelTask', task, {});
    expect((await taskInfo(task)).cancelled).toBe(true);
    await setState(task, 'error', { fault: { fault: { _type: 'RequestCanceled' }, localizedMessage: 'canceled' } });
    const err = await waiting;
    expect(err).toBeInstanceOf(VimFault);
    expect((err as VimFault).faultName).toBe('RequestCanceled');
  });

  it('answers misuse of a task with vSphere faults', async () => {
    const task = await createTask();
    const faultName = (p: Promise<unknown>) =>
      p.then(
        () => 'no fault',
        (e: unknown) => (e as VimFault).faultName,
      );
    // Progress only while running; 0–100 only; finished is final; not cancelable is NotSupported.
    expect(await faultName(client.invoke('UpdateProgress', task, { percentDone: 5 }))).toBe('InvalidState');
    await setState(task, 'running');
    expect(await faultName(client.invoke('UpdateProgress', task, { percentDone: 101 }))).toBe('OutOfBounds');
    expect(await faultName(client.invoke('CancelTask', task, {}))).toBe('NotSupported');
    await setState(task, 'success');
    expect(await faultName(setState(task, 'running'))).toBe('InvalidState');
    const err = await client
      .invoke('CreateTask', client.serviceContent.taskManager!, {
        obj: { type: 'VirtualMachine', value: 'vm-gone' },
        taskTypeId: 'com.example.vch.test',
        cancelable: false,
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ManagedObjectNotFoundError);
    await expect(
      client.invoke('CreateTask', client.serviceContent.taskManager!, {
        obj: folder,
        taskTypeId: '',
        cancelable: false,
      }),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
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
