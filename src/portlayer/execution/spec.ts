/**
 * What crosses from the VCH to a container VM and back through extraConfig
 * (docs/container-vm.md): the keys, the spec the tether reads, the status it writes. Pure.
 */
/** Keys the VCH writes at clone time and the tether reads. */
export const KEY_ID = 'guestinfo.vch.id';
export const KEY_SPEC = 'guestinfo.vch.spec';
export const KEY_SEED = 'guestinfo.vch.seed';
export const KEY_CLOCK = 'guestinfo.vch.clock';
/** The tether's report: `{"state":"created"|"running"|"exited",…}`. */
export const KEY_STATUS = 'guestinfo.vch.status';
/** Marks the template VM (never a container). */
export const KEY_ROLE = 'guestinfo.vch.role';
/** The VCH's own record of the container (config as created, image, creation time): the tether ignores it. */
export const KEY_RECORD = 'guestinfo.vch.record';

export type { ContainerVmSpec } from '../../tether/protocol/containerSpec';

/** `guestinfo.vch.status` as the tether writes it. */
export type VmStatus =
  | { state: 'created' }
  | { state: 'running'; pid?: number; startedAt?: string | number }
  | { state: 'exited'; exitCode: number; finishedAt?: string | number; startedAt?: string | number; error?: string };

/** Parses a status value; anything unexpected is undefined (a guest is not trusted). */
export function parseVmStatus(text: string | undefined): VmStatus | undefined {
  if (text === undefined || text === '') return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const time = (x: unknown): string | number | undefined =>
    typeof x === 'string' || typeof x === 'number' ? x : undefined;
  switch (o.state) {
    case 'created':
      return { state: 'created' };
    case 'running': {
      const startedAt = time(o.startedAt);
      return {
        state: 'running',
        ...(typeof o.pid === 'number' ? { pid: o.pid } : {}),
        ...(startedAt !== undefined ? { startedAt } : {}),
      };
    }
    case 'exited': {
      if (typeof o.exitCode !== 'number') return undefined;
      const finishedAt = time(o.finishedAt);
      const startedAt = time(o.startedAt);
      return {
        state: 'exited',
        exitCode: o.exitCode,
        ...(finishedAt !== undefined ? { finishedAt } : {}),
        ...(startedAt !== undefined ? { startedAt } : {}),
        ...(typeof o.error === 'string' ? { error: o.error } : {}),
      };
    }
    default:
      return undefined;
  }
}

/** A status time (ISO text or ms since the epoch) as a Date. */
export function statusTime(t: string | number | undefined): Date | undefined {
  if (t === undefined) return undefined;
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? undefined : d;
}
