/**
 * Container ids and names as Docker has them: 64 hex ids, names unique in the VCH, lookup by
 * full id, exact name, then unique id prefix. Pure but for the randomness of new ids.
 */
import { randomBytes } from 'node:crypto';
import { ConflictError, InvalidParameterError, NotFoundError } from '../api';

const NAME = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export function newContainerId(): string {
  return randomBytes(32).toString('hex');
}

export function shortId(id: string): string {
  return id.slice(0, 12);
}

/** The container VM's name: what a vSphere administrator recognises. */
export function vmName(name: string, id: string): string {
  return `${name}-${shortId(id)}`;
}

/** `x` or `/x` → `x`; InvalidParameterError with Docker's text when not a valid name. */
export function normalizeName(name: string): string {
  if (!NAME.test(name)) {
    throw new InvalidParameterError(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  return name.replace(/^\//, '');
}

const LEFT = ['admiring', 'brave', 'clever', 'eager', 'focused', 'gallant', 'jolly', 'keen', 'quirky', 'vibrant'];
const RIGHT = ['babbage', 'curie', 'darwin', 'euler', 'hopper', 'lovelace', 'noether', 'shannon', 'turing', 'wozniak'];

/** Docker-style `adjective_surname`, with a digit suffix when the plain one is taken. */
export function randomName(taken: (name: string) => boolean): string {
  const pick = (list: readonly string[]): string => list[randomBytes(1)[0]! % list.length]!;
  for (let i = 0; ; i++) {
    const base = `${pick(LEFT)}_${pick(RIGHT)}`;
    const name = i < 10 ? base : `${base}${i}`;
    if (!taken(name)) return name;
  }
}

export function nameConflict(name: string, holderId: string): ConflictError {
  return new ConflictError(
    `Conflict. The container name "/${name}" is already in use by container "${holderId}". ` +
      'You have to remove (or rename) that container to be able to reuse that name.',
  );
}

export interface Named {
  readonly id: string;
  readonly name: string;
}

/** Docker's order: a full id, an exact name (with or without '/'), a unique id prefix. */
export function resolveContainer<T extends Named>(all: readonly T[], ref: string): T {
  const byId = all.find((c) => c.id === ref);
  if (byId) return byId;
  const bare = ref.replace(/^\//, '');
  const byName = all.find((c) => c.name === bare);
  if (byName) return byName;
  if (/^[a-f0-9]+$/.test(ref)) {
    const matches = all.filter((c) => c.id.startsWith(ref));
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1) throw new InvalidParameterError(`Multiple IDs found with provided prefix: ${ref}`);
  }
  throw new NotFoundError('container', ref);
}
