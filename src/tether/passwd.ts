/** Parsers for an image's /etc/passwd and /etc/group (pure: text in, entries out). */

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** Lines that do not parse are skipped, as libc and runc skip them. */
export function parsePasswd(text: string): PasswdEntry[] {
  const entries: PasswdEntry[] = [];
  for (const line of lines(text)) {
    const f = line.split(':');
    if (f.length < 7) continue;
    const uid = parseId(f[2]);
    const gid = parseId(f[3]);
    if (uid === undefined || gid === undefined) continue;
    entries.push({ name: f[0], uid, gid, home: f[5], shell: f[6] });
  }
  return entries;
}

export function parseGroup(text: string): GroupEntry[] {
  const entries: GroupEntry[] = [];
  for (const line of lines(text)) {
    const f = line.split(':');
    if (f.length < 4) continue;
    const gid = parseId(f[2]);
    if (gid === undefined) continue;
    entries.push({ name: f[0], gid, members: f[3] ? f[3].split(',').filter((m) => m !== '') : [] });
  }
  return entries;
}

/** A decimal id in [0, 2^32 - 2]; anything else is not an id (then it is a name). */
export function parseId(text: string): number | undefined {
  if (!/^[0-9]+$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 0xfffffffe ? n : undefined;
}

function lines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}
