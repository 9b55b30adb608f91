/**
 * Datastore paths (`[name] dir/file`) to files on this machine: the simulator keeps each
 * datastore in a local folder and its ready line says which.
 */
import path from 'node:path';

export interface LocalDatastore {
  readonly name: string;
  /** Absolute folder backing the datastore. */
  readonly path: string;
}

export class UnknownDatastoreError extends Error {
  override readonly name = 'UnknownDatastoreError';
}

export function localPathOf(datastorePath: string, datastores: readonly LocalDatastore[]): string {
  const m = /^\[([^\]]+)\]\s*(.*)$/.exec(datastorePath.trim());
  if (!m) throw new Error(`not a datastore path: ${datastorePath}`);
  const ds = datastores.find((d) => d.name === m[1]);
  if (!ds) throw new UnknownDatastoreError(`no local folder for datastore ${m[1]} (${datastorePath})`);
  const rel = path.posix.normalize(m[2] || '.');
  // A path climbing out of the datastore would let an API caller boot any host file.
  if (rel.startsWith('..')) throw new Error(`datastore path escapes its datastore: ${datastorePath}`);
  return path.join(ds.path, rel);
}
