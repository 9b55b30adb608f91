import type { ExecUser } from './user';

/** Docker's default PATH when the image's config gives none. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The process's environment as Docker builds it: the spec's KEY=VALUE list, plus PATH,
 * HOME (from passwd) and, with a tty, TERM=xterm — each only where the spec has none.
 */
export function buildEnvironment(spec: string[] | undefined, user: ExecUser, tty: boolean): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of spec ?? []) {
    const i = entry.indexOf('=');
    if (i <= 0) continue; // "KEY" alone means "unset" in Docker; nothing to pass
    env[entry.slice(0, i)] = entry.slice(i + 1);
  }
  env.PATH ??= DEFAULT_PATH;
  env.HOME ??= user.home;
  if (tty) env.TERM ??= 'xterm';
  return env;
}
