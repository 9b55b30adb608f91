/**
 * `docker logs` from the output the VCH's own attach captured (MainSession's bounded
 * buffer): the backlog as it is, then, with follow, each chunk as it comes until the main
 * process ends or the reader closes. Filtering (since, until, tail, streams) and rendering
 * timestamps are the personality's; each chunk carries the time the VCH received it.
 */
import type { ContainerLogEntry, ContainerLogOptions, ContainerLogs } from '../api';
import type { LogChunk, MainSession } from './main-session';

export function toLogEntry(c: LogChunk): ContainerLogEntry {
  return { stream: c.stream === 1 ? 'stdout' : 'stderr', time: c.time, data: c.data };
}

/**
 * The logs of one run. `session` is the run's MainSession, or undefined when the VCH has
 * none (a container never started, or one that ended before this VCH ran): then there is
 * nothing to show and nothing to follow.
 */
export function readSessionLogs(
  session: MainSession | undefined,
  options: ContainerLogOptions,
  /** Awaited after the process ended, before `ended` resolves (the VM's status recording the exit). */
  afterEnd: () => Promise<void> = () => Promise.resolve(),
): ContainerLogs {
  if (!session) return { backlog: [], ended: Promise.resolve(), close: () => {} };
  const backlog = session.logs().map(toLogEntry);
  if (!options.follow || session.ended) {
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
