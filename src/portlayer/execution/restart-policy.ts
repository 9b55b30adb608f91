/**
 * Docker's restart policies as the VCH applies them (pure): whether an exit is followed by a
 * restart, after how long, and the state kept for it in the VM's extraConfig
 * (`guestinfo.vch.restart`), so that a restarted VCH knows the count and whether the user
 * stopped the container.
 */
import type { RestartPolicy } from '../api';

/** The VCH's restart bookkeeping for one container; the tether ignores it. */
export const KEY_RESTART = 'guestinfo.vch.restart';

export interface RestartState {
  readonly policy: RestartPolicy;
  /** Restarts made by the policy since the user last started the container. */
  readonly count: number;
  /** `docker stop`/`kill`: no restart until the user starts it again (Docker's HasBeenManuallyStopped). */
  readonly manuallyStopped: boolean;
}

export const NO_RESTART: RestartState = { policy: { name: 'no' }, count: 0, manuallyStopped: false };

const POLICIES: ReadonlySet<string> = new Set(['no', 'always', 'on-failure', 'unless-stopped']);

/** Parses the stored value; anything unexpected reads as no policy. */
export function parseRestartState(text: string | undefined): RestartState {
  if (!text) return NO_RESTART;
  try {
    const v = JSON.parse(text) as Partial<RestartState> & { policy?: Partial<RestartPolicy> };
    const name = v.policy?.name;
    if (typeof name !== 'string' || !POLICIES.has(name)) return NO_RESTART;
    const max = v.policy?.maximumRetryCount;
    return {
      policy: { name: name as RestartPolicy['name'], ...(typeof max === 'number' ? { maximumRetryCount: max } : {}) },
      count: typeof v.count === 'number' ? v.count : 0,
      manuallyStopped: v.manuallyStopped === true,
    };
  } catch {
    return NO_RESTART;
  }
}

export function formatRestartState(s: RestartState): string {
  return JSON.stringify(s);
}

/**
 * Whether the container runs again after an exit. `vchStart`: the VCH is starting and finds
 * the container exited, where Docker's daemon start restarts `always` containers even when
 * the user had stopped them, but not `unless-stopped` ones.
 */
export function shouldRestart(s: RestartState, exitCode: number, vchStart = false): boolean {
  switch (s.policy.name) {
    case 'always':
      return vchStart || !s.manuallyStopped;
    case 'unless-stopped':
      return !s.manuallyStopped;
    case 'on-failure': {
      const max = s.policy.maximumRetryCount ?? 0;
      return !s.manuallyStopped && exitCode !== 0 && (max === 0 || s.count < max);
    }
    default:
      return false;
  }
}

/** A run at least this long resets the back-off, as Docker's restart manager does. */
export const BACKOFF_RESET_MS = 10_000;
const BACKOFF_START_MS = 100;
const BACKOFF_MAX_MS = 60_000;

/** Docker's back-off: 100 ms doubling per quick successive restart, at most a minute. */
export function restartDelayMs(previousDelayMs: number | undefined, ranMs: number): number {
  if (previousDelayMs === undefined || ranMs >= BACKOFF_RESET_MS) return BACKOFF_START_MS;
  return Math.min(previousDelayMs * 2, BACKOFF_MAX_MS);
}
