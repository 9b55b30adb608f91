import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type GroupEntry, type PasswdEntry, parseGroup, parseId, parsePasswd } from './passwd';

/** Who a process runs as: what runc's GetExecUser computes for Docker. */
export interface ExecUser {
  uid: number;
  gid: number;
  /** Supplementary groups: only in the implicit form (no group given), as runc does. */
  groups: number[];
  home: string;
}

export class UserError extends Error {
  override name = 'UserError';
}

/**
 * Resolves Docker's `user` ("", "name", "uid", "name:group", "uid:gid", any mix) against
 * passwd and group entries. Pure, so the rules are unit-tested without an image.
 */
export function resolveUser(spec: string | undefined, passwd: PasswdEntry[], group: GroupEntry[]): ExecUser {
  const [userPart, groupPart] = splitSpec(spec ?? '');
  const result: ExecUser = { uid: 0, gid: 0, groups: [], home: '/' };
  let name: string | undefined;

  const uidNumber = userPart === '' ? 0 : parseId(userPart);
  const entry = passwd.find((p) => (uidNumber === undefined ? p.name === userPart : p.uid === uidNumber));
  if (entry) {
    result.uid = entry.uid;
    result.gid = entry.gid;
    result.home = entry.home || '/';
    name = entry.name;
  } else if (uidNumber === undefined) {
    throw new UserError(`unable to find user ${userPart}: no matching entries in passwd file`);
  } else {
    result.uid = uidNumber; // a numeric uid needs no passwd entry
  }

  if (groupPart !== undefined) {
    const gidNumber = parseId(groupPart);
    const g = group.find((e) => (gidNumber === undefined ? e.name === groupPart : e.gid === gidNumber));
    if (g) result.gid = g.gid;
    else if (gidNumber === undefined) {
      throw new UserError(`unable to find group ${groupPart}: no matching entries in group file`);
    } else result.gid = gidNumber;
  } else if (name !== undefined) {
    const member = name;
    result.groups = [
      ...new Set(group.filter((g) => g.members.includes(member) && g.gid !== result.gid).map((g) => g.gid)),
    ];
  }
  return result;
}

/** Reads the image's passwd and group under `root` (missing files are empty ones). */
export function resolveUserInRoot(spec: string | undefined, root: string): ExecUser {
  return resolveUser(
    spec,
    parsePasswd(readOptional(join(root, 'etc/passwd'))),
    parseGroup(readOptional(join(root, 'etc/group'))),
  );
}

function splitSpec(spec: string): [string, string | undefined] {
  const i = spec.indexOf(':');
  return i < 0 ? [spec, undefined] : [spec.slice(0, i), spec.slice(i + 1)];
}

function readOptional(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
