/**
 * `docker logs`: the output persisted on the datastore (log-store.ts: every run of the
 * container, oldest first), then what the VCH's live session (MainSession's bounded buffer)
 * has that is not persisted yet, then, with follow, each chunk as it comes until the main
 * process ends or the reader closes. Filtering (since, until, tail, streams) and rendering
 * timestamps are the personality's; each chunk carries the time the VCH received it.
 */
import type { ContainerLogEntry, ContainerLogOptions, ContainerLogs } from '../api';
import { type LogRecord, notPersisted } from './log-format';
import type { LogChunk, MainSession } from './main-session';

export function toLogEntry(c: LogChunk): ContainerLogEntry {
  return { stream: c.stream === 1 ? 'stdout' : 'stderr', time: c.time, data: c.data };
}

/**
 * `session` is the container's current (or last) MainSession, or undefined when the VCH has
 * none (a container never started here, or one whose run ended before this VCH ran): then
 * the persisted output is all there is, and there is nothing to follow. Synchronous, so the
 * backlog and the follow begin at the same chunk.
 */
export function readContainerLogs(
  persisted: readonly LogRecord[],
  session: MainSession | undefined,
  options: ContainerLogOptions,
  /** Awaited after the process ended, before `ended` resolves (the VM's status recording the exit). */
  afterEnd: () => Promise<void> = () => Promise.resolve(),
): ContainerLogs {
  const live = session ? notPersisted(persisted, session.run, session.logs()) : [];
  const backlog = [...persisted, ...live].map(toLogEntry);
  if (!session || !options.follow || session.ended) {
    return { backlog, ended: Promise.resolve(), close: () => {} };
  }
  let resolveClosed: () => void = () => {};
  const closed = new Promise<void>((resolve) => {
    resolveClosed = resolve;
  });
  const off = session.onLog((chunk) => options.onEntry?.(toLogEntry(chunk)));
  // A follower sees the container exited once its logs end, as with Docker.
  const ended = Promise.race([session.whenEnded.then(afterEnd), closed]).finally(off);
  return {
    backlog,
    ended,
    close: () => {
      off();
      resolveClosed();
    },
  };
}
