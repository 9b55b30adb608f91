/**
 * Exec instances. Docker splits an exec into create (remember what to run), start (run it,
 * usually hijacked) and inspect (running, exit code); the port layer's `exec` runs at once,
 * so the instances between create and start, and their outcome after, live here.
 */

import { randomBytes } from 'node:crypto';
import { type ContainerAttachment, type ContainerExecOptions, NotFoundError } from '../../portlayer/api';

export interface ExecInstance {
  readonly id: string;
  readonly containerId: string;
  readonly options: ContainerExecOptions;
  readonly attachStdin: boolean;
  readonly attachStdout: boolean;
  readonly attachStderr: boolean;
  readonly detachKeys: string;
  readonly privileged: boolean;
  running: boolean;
  exitCode: number | null;
  pid: number;
  attachment?: ContainerAttachment;
  /** Set by start; a second start is a 409. */
  started: boolean;
  /** Size asked before start (`docker exec -it` resizes right after create on some paths). */
  size?: { rows: number; cols: number };
}

/** Ended instances are forgotten after this long, as dockerd does after its container goes. */
const KEEP_ENDED_MS = 5 * 60_000;

export class ExecRegistry {
  private readonly instances = new Map<string, ExecInstance>();

  add(init: Omit<ExecInstance, 'id' | 'running' | 'exitCode' | 'pid' | 'started'>): ExecInstance {
    const instance: ExecInstance = {
      ...init,
      id: randomBytes(32).toString('hex'),
      running: false,
      exitCode: null,
      pid: 0,
      started: false,
    };
    this.instances.set(instance.id, instance);
    return instance;
  }

  /** By full id or unique prefix; 404 `No such exec instance: x` otherwise. */
  get(ref: string): ExecInstance {
    const exact = this.instances.get(ref);
    if (exact !== undefined) return exact;
    const matches = [...this.instances.values()].filter((i) => ref.length > 0 && i.id.startsWith(ref));
    if (matches.length === 1) return matches[0]!;
    throw new NotFoundError('exec instance', ref);
  }

  /** Ids of a container's instances (inspect's ExecIDs). */
  ofContainer(containerId: string): string[] {
    return [...this.instances.values()].filter((i) => i.containerId === containerId).map((i) => i.id);
  }

  ended(instance: ExecInstance, exitCode: number): void {
    instance.running = false;
    instance.exitCode = exitCode;
    setTimeout(() => this.instances.delete(instance.id), KEEP_ENDED_MS).unref();
  }
}
