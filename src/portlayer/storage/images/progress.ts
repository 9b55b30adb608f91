/**
 * Pull progress as typed events, one per line Docker's JSON progress stream would carry;
 * the personality serializes them (`{"status","id","progressDetail"}`). Pure.
 */

export type LayerStatus =
  | 'Pulling fs layer'
  | 'Already exists'
  | 'Waiting'
  | 'Downloading'
  | 'Verifying Checksum'
  | 'Download complete'
  | 'Extracting'
  | 'Pull complete';

export type PullEvent =
  /** `latest: Pulling from library/busybox` (id = the tag or digest). */
  | { readonly type: 'pulling'; readonly id: string; readonly repository: string }
  /** A layer's step; `id` is the short (12 hex) blob digest, as Docker shows it. */
  | {
      readonly type: 'layer';
      readonly id: string;
      readonly status: LayerStatus;
      readonly progress?: { readonly current: number; readonly total: number };
    }
  /** `Digest: sha256:…` (the manifest digest). */
  | { readonly type: 'digest'; readonly digest: string }
  /** `Status: Downloaded newer image for busybox:latest` / `Status: Image is up to date for …`. */
  | { readonly type: 'status'; readonly outcome: 'downloaded' | 'up-to-date'; readonly reference: string };

/** The status line Docker prints for a final status event. */
export function statusText(e: Extract<PullEvent, { type: 'status' }>): string {
  return e.outcome === 'downloaded'
    ? `Status: Downloaded newer image for ${e.reference}`
    : `Status: Image is up to date for ${e.reference}`;
}

export function shortLayerId(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}

/**
 * Rate-limits a layer's byte progress: the first and the last value always pass, others at
 * most every `intervalMs` (why: a chunk per event would flood the client on a fast link).
 */
export function throttleProgress(
  emit: (current: number, total: number) => void,
  intervalMs = 100,
  now: () => number = Date.now,
): (current: number, total: number) => void {
  let last = Number.NEGATIVE_INFINITY;
  return (current, total) => {
    const t = now();
    if (current >= total || t - last >= intervalMs) {
      last = t;
      emit(current, total);
    }
  };
}
