/**
 * Gets Debian's `busybox-static` without installing it: `apt-get download` into a cache,
 * `dpkg-deb -x` into a scratch folder, and the applet list from the binary itself.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface BusyboxPackage {
  readonly debPath: string;
  /** sha256 of the .deb: the input that the image cache is keyed on. */
  readonly debSha256: string;
  /** Debian version, e.g. `1:1.35.0-4+deb12u1+b1`. */
  readonly version: string;
  readonly binary: Buffer;
  /** Applet names as `busybox --list` prints them. */
  readonly applets: readonly string[];
}

/** Returns the cached .deb, downloading it once (apt-get download needs no root lock). */
export async function ensureBusyboxDeb(cacheDir: string): Promise<string> {
  const debDir = join(cacheDir, 'debs');
  await mkdir(debDir, { recursive: true });
  const existing = (await readdir(debDir)).find((f) => f.startsWith('busybox-static_') && f.endsWith('.deb'));
  if (existing) return join(debDir, existing);
  const scratch = await mkdtemp(join(debDir, '.download-'));
  try {
    await run('apt-get', ['download', '-q', 'busybox-static'], { cwd: scratch }).catch((error: unknown) => {
      throw new Error(
        `apt-get download busybox-static failed (run 'apt-get update' once?): ${error instanceof Error ? error.message : String(error)}`,
      );
    });
    const deb = (await readdir(scratch)).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error('apt-get download busybox-static produced no .deb');
    // Atomic publish: parallel test workers may race here.
    await rename(join(scratch, deb), join(debDir, deb));
    return join(debDir, deb);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The cached .deb and its hash: cheap, so the image cache can be checked before unpacking. */
export async function locateBusyboxDeb(cacheDir: string): Promise<{ debPath: string; debSha256: string }> {
  const debPath = await ensureBusyboxDeb(cacheDir);
  const debSha256 = createHash('sha256')
    .update(await readFile(debPath))
    .digest('hex');
  return { debPath, debSha256 };
}

/** Unpacks the .deb in a scratch folder under `workDir` and reads the binary and its applets. */
export async function extractBusybox(debPath: string, debSha256: string, workDir: string): Promise<BusyboxPackage> {
  const { stdout: version } = await run('dpkg-deb', ['-f', debPath, 'Version']);
  const scratch = await mkdtemp(join(workDir, '.busybox-'));
  try {
    await run('dpkg-deb', ['-x', debPath, scratch]);
    const binPath = join(scratch, 'bin', 'busybox');
    const binary = await readFile(binPath);
    // The applet list comes from the binary we ship, so the symlinks always match it.
    const { stdout } = await run(binPath, ['--list']);
    const applets = stdout
      .split('\n')
      .map((s) => s.trim())
      .filter((s) => s !== '' && s !== 'busybox' && !s.includes('/'));
    return { debPath, debSha256, version: version.trim(), binary, applets };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
