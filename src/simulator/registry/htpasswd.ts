/**
 * htpasswd lines for docker-registry's `auth.htpasswd`, which accepts bcrypt only. Written
 * with the pure-JS `bcryptjs` so no apache2-utils is needed on the box.
 */
import bcrypt from 'bcryptjs';

export interface TestUser {
  readonly username: string;
  readonly password: string;
}

/** Cost 5: the minimum docker-registry accepts is 4; tests log in often. */
const BCRYPT_COST = 5;

export function htpasswdLine(user: TestUser): string {
  if (user.username.includes(':')) throw new Error('htpasswd user names cannot contain ":"');
  return `${user.username}:${bcrypt.hashSync(user.password, BCRYPT_COST)}`;
}

export function htpasswdFile(users: readonly TestUser[]): string {
  return `${users.map(htpasswdLine).join('\n')}\n`;
}
