/**
 * Whether the endpoint can instant clone (InstantClone_Task, vSphere 6.7+); without it the
 * container VMs will be linked clones that cold boot, and `docker info` says so.
 */

import type { VimClient } from '../../vsphere/client';

/** InstantClone_Task arrived with vSphere 6.7's API. */
const INSTANT_CLONE_API = [6, 7] as const;

/** Whether an API version (`8.0.2.0`) is at least `min` ([major, minor]). */
export function apiVersionAtLeast(version: string, min: readonly number[]): boolean {
  const parts = version.split('.').map((p) => Number.parseInt(p, 10));
  for (let i = 0; i < min.length; i++) {
    const have = Number.isFinite(parts[i]) ? parts[i]! : 0;
    if (have !== min[i]) return have > min[i]!;
  }
  return true;
}

/** Whether the endpoint's API (serviceContent.about.apiVersion) has InstantClone_Task. */
export function canInstantClone(client: VimClient): boolean {
  return apiVersionAtLeast(client.serviceContent.about.apiVersion, INSTANT_CLONE_API);
}
