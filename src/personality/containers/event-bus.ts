/**
 * The personality's event bus behind `GET /events`. The routes publish what they do
 * (create, attach, kill, stop, restart, rename, exec_*); `start`, `die` and `destroy` come
 * from the port layer's lifecycle events, because a restart policy, a process ending by
 * itself or `--rm` cause them with no route involved. Recent events are kept for `since`.
 */

import type { ContainerService, ContainerSummary } from '../../portlayer/api';
import type { FilterArgs } from '../filters';
import { matchesLabels } from '../filters';

export interface DockerEvent {
  readonly Type: 'container' | 'image' | 'network' | 'volume';
  readonly Action: string;
  readonly Actor: { readonly ID: string; readonly Attributes: Readonly<Record<string, string>> };
  readonly scope: 'local';
  readonly time: number;
  readonly timeNano: number;
  /** Legacy fields (API < 1.22 and docker-py/compose 1.29 read them) for container events. */
  readonly status?: string;
  readonly id?: string;
  readonly from?: string;
}

export interface ContainerEventSubject {
  readonly id: string;
  /** Without '/'. */
  readonly name: string;
  readonly image: string;
  readonly labels?: Readonly<Record<string, string>>;
}

export type EventListener = (event: DockerEvent) => void;

const KEEP = 1024;

export class EventBus {
  private readonly recent: DockerEvent[] = [];
  private readonly listeners = new Set<EventListener>();

  /** A container event; `extra` attributes (exitCode, signal, execID…) join image, name, labels. */
  container(action: string, c: ContainerEventSubject, extra: Readonly<Record<string, string>> = {}): DockerEvent {
    const nowNs = BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
    const event: DockerEvent = {
      status: action,
      id: c.id,
      from: c.image,
      Type: 'container',
      Action: action,
      Actor: { ID: c.id, Attributes: { ...c.labels, ...extra, image: c.image, name: c.name.replace(/^\//, '') } },
      scope: 'local',
      time: Number(nowNs / 1_000_000_000n),
      timeNano: Number(nowNs),
    };
    this.publish(event);
    return event;
  }

  publish(event: DockerEvent): void {
    this.recent.push(event);
    if (this.recent.length > KEEP) this.recent.shift();
    for (const l of [...this.listeners]) l(event);
  }

  /** Events already seen whose time is within [since, until]. */
  history(sinceNs: number, untilNs: number): DockerEvent[] {
    return this.recent.filter((e) => e.timeNano >= sinceNs && e.timeNano <= untilNs);
  }

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Publishes the containers' starts, exits and removals as Docker's `start`, `die`, `destroy`. */
  follow(containers: ContainerService): () => void {
    return containers.subscribe((e) => {
      const extra: Record<string, string> = e.action === 'die' ? { exitCode: String(e.exitCode) } : {};
      this.container(e.action, eventSubject(e.container), extra);
    });
  }
}

export function eventSubject(c: ContainerSummary): ContainerEventSubject {
  return { id: c.id, name: c.name, image: c.image, labels: c.labels };
}

export const EVENT_FILTERS = ['container', 'event', 'image', 'label', 'type', 'daemon', 'network', 'volume', 'scope'];

/** dockerd's `events.Filter`: keys ANDed, values of one key ORed, labels all required. */
export function eventMatches(e: DockerEvent, f: FilterArgs): boolean {
  const any = (key: string, pred: (v: string) => boolean): boolean => {
    const values = f.get(key);
    return values.length === 0 || values.some(pred);
  };
  const attrs = e.Actor.Attributes;
  return (
    any('type', (t) => t === e.Type) &&
    any('event', (a) => a === e.Action || e.Action.startsWith(`${a}:`)) &&
    any(
      'container',
      (c) => e.Type === 'container' && (e.Actor.ID.startsWith(c) || attrs.name === c.replace(/^\//, '')),
    ) &&
    any('image', (i) => attrs.image === i || attrs.image === `${i}:latest` || `${attrs.image}:latest` === i) &&
    any('scope', (s) => s === e.scope) &&
    matchesLabels(f.get('label'), attrs)
  );
}
