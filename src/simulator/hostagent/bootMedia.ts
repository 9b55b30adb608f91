/**
 * What qemu needs to boot a bootstrap ISO: its kernel, initramfs and command line. The
 * bootstrap cache keeps `vmlinuz`, `initrd.img` and `manifest.json` beside `bootstrap.iso`;
 * an ISO copied alone to a datastore has them inside, and they are extracted once with
 * xorriso into the agent's cache (direct kernel boot saves the firmware's second or so
 * under TCG, and q35's own CD-ROM is invisible to the cloud kernel anyway).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface BootMedia {
  readonly iso: string;
  readonly kernel: string;
  readonly initrd: string;
  readonly cmdline: string;
}

interface ManifestLike {
  readonly cmdline?: unknown;
}

/** Used when a manifest lacks one: the bootstrap's own default. */
const FALLBACK_CMDLINE = 'console=ttyS0 quiet panic=-1';

async function cmdlineFrom(manifestPath: string): Promise<string> {
  const m = JSON.parse(await readFile(manifestPath, 'utf8')) as ManifestLike;
  return typeof m.cmdline === 'string' ? m.cmdline : FALLBACK_CMDLINE;
}

const extracting = new Map<string, Promise<BootMedia>>();

/** Kernel, initrd and cmdline for `iso`, extracting them into `cacheDir` when not beside it. */
export async function bootMediaFor(iso: string, cacheDir: string): Promise<BootMedia> {
  const dir = path.dirname(iso);
  const beside = { kernel: path.join(dir, 'vmlinuz'), initrd: path.join(dir, 'initrd.img') };
  const manifest = path.join(dir, 'manifest.json');
  if (existsSync(beside.kernel) && existsSync(beside.initrd) && existsSync(manifest)) {
    return { iso, ...beside, cmdline: await cmdlineFrom(manifest) };
  }
  // Keyed by the ISO's identity on disk: a replaced ISO gets extracted again.
  const st = await stat(iso);
  const key = createHash('sha256').update(`${iso}\0${st.size}\0${st.mtimeMs}\0${st.ino}`).digest('hex').slice(0, 16);
  let job = extracting.get(key);
  if (!job) {
    job = extract(iso, path.join(cacheDir, 'boot', key));
    extracting.set(key, job);
    job.catch(() => extracting.delete(key));
  }
  return job;
}

async function extract(iso: string, out: string): Promise<BootMedia> {
  const media = { iso, kernel: path.join(out, 'vmlinuz'), initrd: path.join(out, 'initrd.img') };
  const manifest = path.join(out, 'vch-bootstrap.json');
  if (!existsSync(manifest)) {
    const tmp = `${out}.tmp-${process.pid}`;
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true });
    await run('xorriso', [
      '-osirrox',
      'on',
      '-indev',
      iso,
      '-extract',
      '/boot/vmlinuz',
      path.join(tmp, 'vmlinuz'),
      '-extract',
      '/boot/initrd.img',
      path.join(tmp, 'initrd.img'),
      '-extract',
      '/vch-bootstrap.json',
      path.join(tmp, 'vch-bootstrap.json'),
    ]);
    await rm(out, { recursive: true, force: true });
    await rename(tmp, out);
  }
  return { ...media, cmdline: await cmdlineFrom(manifest) };
}
