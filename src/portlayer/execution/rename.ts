/**
 * `docker rename`: the name lives in the VM's record (`guestinfo.vch.record`) and in the
 * VM's own name (`<name>-<shortid>`); both change, the record first (it is what the cache,
 * and so every lookup, reads).
 */
import { runTask } from '../../vsphere/tasks';
import { setExtraConfig } from '../../vsphere/virtualMachine';
import { InvalidParameterError, SystemError } from '../api';
import { nameConflict, normalizeName, vmName } from './names';
import type { VchPlacement } from './placement';
import { KEY_RECORD } from './spec';
import type { CachedContainer, ContainerCache, ContainerRecord } from './state';

export interface RenameDeps {
  readonly placement: VchPlacement;
  readonly cache: ContainerCache;
  /** The id holding `name` (a container, or a create in progress), if any. */
  readonly nameTaken: (name: string) => string | undefined;
  /** Holds `name` for the duration (so a create or another rename cannot take it meanwhile). */
  readonly reserve: (name: string, id: string) => () => void;
}

const RENAME_SEEN_TIMEOUT_MS = 30_000;

export async function renameContainer(d: RenameDeps, c: CachedContainer, requested: string): Promise<void> {
  const name = normalizeName(requested);
  if (name === c.name) {
    throw new InvalidParameterError('Renaming a container with the same name as its current name');
  }
  const holder = d.nameTaken(name);
  if (holder !== undefined && holder !== c.id) throw nameConflict(name, holder);
  if (!c.record) throw new SystemError(`container ${c.id.slice(0, 12)} has no record to rename`);
  const release = d.reserve(name, c.id);
  try {
    const record: ContainerRecord = { ...c.record, name };
    const ctx = d.placement.ctx;
    await setExtraConfig(ctx, c.vm, { [KEY_RECORD]: JSON.stringify(record) });
    await runTask(ctx, () => ctx.client.invoke('Rename_Task', c.vm, { newName: vmName(name, c.id) }));
    // Lookups read the cache: answer once it knows the new name.
    await d.cache.until(c.id, (x) => x.name === name, RENAME_SEEN_TIMEOUT_MS).catch(() => undefined);
  } finally {
    release();
  }
}
