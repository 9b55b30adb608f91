/**
 * Waiting for vSphere tasks on the session's updates loop (no polling): watch the task's
 * info.state / progress / result / error, resolve with the result, reject with the typed
 * fault the task failed with, or with a timeout / abort error that names the task.
 */
import type { VimClient } from './client';
import { faultFromLocalized } from './faults';
import type { UpdatesLoop } from './updates';
import type { LocalizedMethodFault } from './vim25/generated/types';
import type { ManagedObjectReference, VimAny } from './vim25/values';

/** What the helpers that start tasks need: the client to call, the loop to wait on. */
export interface VimContext {
  readonly client: VimClient;
  readonly updates: UpdatesLoop;
}

export interface WaitForTaskOptions {
  /** Called with info.progress (0–100) whenever the server reports a new value. */
  readonly onProgress?: (percent: number) => void;
  /** Reject with TaskTimeoutError after this long (the task itself keeps running on the server). */
  readonly timeoutMs?: number;
  /** Reject with TaskAbortedError when aborted (the task itself keeps running on the server). */
  readonly signal?: AbortSignal;
}

export class TaskTimeoutError extends Error {
  override readonly name = 'TaskTimeoutError';
  constructor(
    readonly task: ManagedObjectReference,
    readonly timeoutMs: number,
    readonly lastState: string | undefined,
  ) {
    super(`task ${task.value} did not finish within ${timeoutMs} ms (last state: ${lastState ?? 'unknown'})`);
  }
}

export class TaskAbortedError extends Error {
  override readonly name = 'TaskAbortedError';
  constructor(
    readonly task: ManagedObjectReference,
    readonly reason: unknown,
  ) {
    super(`stopped waiting for task ${task.value}: ${reason instanceof Error ? reason.message : String(reason)}`);
  }
}

export class TaskVanishedError extends Error {
  override readonly name = 'TaskVanishedError';
  constructor(readonly task: ManagedObjectReference) {
    super(`task ${task.value} disappeared from the server before it finished`);
  }
}

const TASK_PATHS = ['info.state', 'info.progress', 'info.result', 'info.error'] as const;

/**
 * Resolves with the task's `info.result` (undefined for tasks without one) once its state
 * is `success`; rejects with the typed fault from `info.error` once it is `error`.
 */
export function waitForTask<R = VimAny | undefined>(
  updates: UpdatesLoop,
  task: ManagedObjectReference,
  options: WaitForTaskOptions = {},
): Promise<R> {
  const { onProgress, timeoutMs, signal } = options;
  return new Promise<R>((resolve, reject) => {
    let settled = false;
    let lastState: string | undefined;
    let lastProgress: number | undefined;
    let timer: NodeJS.Timeout | undefined;

    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      // Stop watching once the filter exists (the callback can fire before watch() resolves).
      void subscription.then((unsubscribe) => unsubscribe()).catch(() => undefined);
      fn();
    };
    const onAbort = (): void => settle(() => reject(new TaskAbortedError(task, signal?.reason)));

    if (signal?.aborted) {
      settled = true;
      reject(new TaskAbortedError(task, signal.reason));
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => settle(() => reject(new TaskTimeoutError(task, timeoutMs, lastState))), timeoutMs);
    }

    const subscription = updates.watch(task, TASK_PATHS, ({ kind, values }) => {
      if (settled) return;
      if (kind === 'leave') {
        settle(() => reject(new TaskVanishedError(task)));
        return;
      }
      const state = values['info.state'];
      if (typeof state === 'string') lastState = state;
      const progress = values['info.progress'];
      if (typeof progress === 'number' && progress !== lastProgress) {
        lastProgress = progress;
        onProgress?.(progress);
      }
      if (state === 'success') {
        settle(() => resolve(values['info.result'] as R));
      } else if (state === 'error') {
        const error = values['info.error'] as LocalizedMethodFault | undefined;
        settle(() =>
          reject(error ? faultFromLocalized(error) : new Error(`task ${task.value} failed without an error`)),
        );
      }
    });
    subscription.catch((err: unknown) => settle(() => reject(err)));
  });
}

/** Starts a `*_Task` method and waits for it: the common shape of every task helper. */
export async function runTask<R = VimAny | undefined>(
  ctx: VimContext,
  start: () => Promise<ManagedObjectReference>,
  options: WaitForTaskOptions = {},
): Promise<R> {
  const task = await start();
  return waitForTask<R>(ctx.updates, task, options);
}
