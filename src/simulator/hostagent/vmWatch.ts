/**
 * Every VirtualMachine's watched properties, pushed by the server: a view watch on the
 * session's one updates loop (updates.ts `watchView`) over all VMs under the root folder,
 * so VMs that appear later are reported too, and a session loss is recovered from there.
 */
import type { VimClient } from '../../vsphere/client';
import { updatesFor } from '../../vsphere/updates';
import type { ManagedObjectReference } from '../../vsphere/vim25/values';
import { WATCHED_PATHS, type WatchedValues } from './vmConfig';

export interface VmUpdate {
  readonly vm: ManagedObjectReference;
  readonly kind: 'enter' | 'modify' | 'leave';
  readonly values: WatchedValues;
}

export interface VmWatch {
  close(): Promise<void>;
}

/**
 * Resolves once every existing VM has been reported ('enter'). `onError` gets this watch's
 * own errors (a throwing `onUpdate`, a failed re-read after a session loss); the loop's
 * retried wait errors go to the loop's onError (see updatesFor).
 */
export async function watchVirtualMachines(
  client: VimClient,
  onUpdate: (u: VmUpdate) => void,
  onError: (err: unknown) => void,
): Promise<VmWatch> {
  const updates = await updatesFor(client);
  const close = await updates.watchView(
    client.serviceContent.rootFolder,
    'VirtualMachine',
    WATCHED_PATHS,
    (u) => onUpdate({ vm: u.obj, kind: u.kind, values: u.values as WatchedValues }),
    { onError },
  );
  return { close };
}
