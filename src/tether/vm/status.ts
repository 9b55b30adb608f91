/**
 * `guestinfo.vch.status`: how the port layer learns the container's state (it watches the
 * VM's extraConfig). Writes are chained so they land in the order they were made.
 */
import type { GuestInfo } from '../guestinfo';
import type { ExitStatus } from '../protocol/messages';
import type { StatusSink } from '../spec-source';

export const STATUS_KEY = 'guestinfo.vch.status';

export type ContainerVmStatus =
  | { state: 'created' }
  | { state: 'running'; pid: number; startedAt: string }
  | { state: 'exited'; exitCode: number; finishedAt: string; startedAt?: string; signal?: string; error?: string };

export class GuestInfoStatus implements StatusSink {
  private last: Promise<void> = Promise.resolve();
  /** The run's start, repeated in its exit: Docker shows it after the exit too, and a restart's back-off needs the run's length. */
  private startedAt: string | undefined;

  constructor(private readonly guestInfo: GuestInfo) {}

  report(status: ContainerVmStatus): Promise<void> {
    const write = this.last.then(() => this.guestInfo.set(STATUS_KEY, JSON.stringify(status)));
    this.last = write.catch(() => undefined);
    return write;
  }

  created(): Promise<void> {
    return this.report({ state: 'created' });
  }

  started(pid: number): Promise<void> {
    this.startedAt = new Date().toISOString();
    return this.report({ state: 'running', pid, startedAt: this.startedAt });
  }

  exited(status: ExitStatus & { error?: string }): Promise<void> {
    const s: ContainerVmStatus = { state: 'exited', exitCode: status.exitCode, finishedAt: new Date().toISOString() };
    if (this.startedAt) s.startedAt = this.startedAt;
    if (status.signal) s.signal = status.signal;
    if (status.error) s.error = status.error;
    return this.report(s);
  }
}
