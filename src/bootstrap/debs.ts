/**
 * Fetches pinned Debian packages with `apt-get download` and unpacks them with `dpkg-deb`,
 * both cached so a second build touches neither the network nor xz.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { DebianPackage } from './pins';

const run = promisify(execFile);

/** The file name `apt-get download` gives a package (it writes `:` of an epoch as `%3a`). */
export function debFileStem(pkg: DebianPackage): string {
  return `${pkg.name}_${pkg.version.replace(/:/g, '%3a')}_`;
}

/** Path of the cached .deb for `pkg`, downloading it first if needed. */
export async function fetchDeb(pkg: DebianPackage, debDir: string): Promise<string> {
  await mkdir(debDir, { recursive: true });
  const stem = debFileStem(pkg);
  const cached = (await readdir(debDir)).find((f) => f.startsWith(stem) && f.endsWith('.deb'));
  if (cached) return join(debDir, cached);
  // Download into a scratch dir and rename, so an interrupted download never looks cached.
  const tmp = await mkdtemp(join(debDir, '.dl-'));
  try {
    await run('apt-get', ['download', '-q', '-o', 'APT::Sandbox::User=root', `${pkg.name}=${pkg.version}`], {
      cwd: tmp,
    }).catch((err: unknown) => {
      const stderr = (err as { stderr?: string }).stderr ?? String(err);
      throw new Error(
        `apt-get download ${pkg.name}=${pkg.version} failed: ${stderr.trim()}\n` +
          'If the version is gone from the mirror, update the pin in src/bootstrap/pins.ts ' +
          '(after `apt-get update`, `apt-cache policy` shows what is current).',
      );
    });
    const got = (await readdir(tmp)).find((f) => f.startsWith(stem) && f.endsWith('.deb'));
    if (!got) throw new Error(`apt-get download ${pkg.name}=${pkg.version} wrote no ${stem}*.deb`);
    await rename(join(tmp, got), join(debDir, got));
    return join(debDir, got);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Directory holding the unpacked contents of `debPath`, unpacking it once. */
export async function unpackDeb(debPath: string, unpackRoot: string): Promise<string> {
  const dest = join(unpackRoot, debPath.replace(/^.*\//, '').replace(/\.deb$/, ''));
  if (existsSync(dest)) return dest;
  await mkdir(unpackRoot, { recursive: true });
  const tmp = await mkdtemp(join(unpackRoot, '.x-'));
  try {
    await run('dpkg-deb', ['-x', debPath, tmp]);
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    // A concurrent build unpacked the same package first: use its copy.
    if (!existsSync(dest)) throw err;
  }
  return dest;
}

/** Fetches and unpacks `pkg`; returns the directory of its unpacked files. */
export async function debContents(pkg: DebianPackage, cacheDir: string): Promise<string> {
  const deb = await fetchDeb(pkg, join(cacheDir, 'debs'));
  return unpackDeb(deb, join(cacheDir, 'unpacked'));
}
