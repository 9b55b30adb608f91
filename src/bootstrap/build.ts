/**
 * `buildBootstrap`: the bootstrap image, from cache when its inputs hash is already built.
 *
 * Layout of the ISO (and of the cache directory `.cache/bootstrap/<hash>/` beside it):
 *   boot/vmlinuz, boot/initrd.img   the cloud kernel and our initramfs
 *   isolinux/                       El Torito boot for a BIOS VM on ESXi
 *   node/bin/node                   Node (its libraries are in the initramfs)
 *   tether/                         the compiled tether; init runs tether/main.js
 *   vch-bootstrap.json              the manifest; also how init recognizes the CD
 * The cache directory holds bootstrap.iso plus vmlinuz, initrd.img and manifest.json copies,
 * so a qemu host agent can use -kernel/-initrd without opening the ISO.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import {
  chmod,
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { debContents } from './debs';
import { buildInitramfs } from './initramfs';
import { renderInit } from './initScript';
import { hashInputs, sha256File, sha256Tree } from './inputsHash';
import { writeIso } from './iso';
import { selectModules } from './kernelModules';
import { nodeRuntime } from './nodeRuntime';
import {
  type DebianPackage,
  KERNEL_CMDLINE,
  KERNEL_RELEASE,
  MANIFEST_NAME,
  MODULES,
  PACKAGES,
  RECIPE_VERSION,
  VOLUME_ID,
} from './pins';

/**
 * Built images kept in the cache (most recently used first). Each is ~130 MB and a new tether
 * makes a new one, so old ones go; a few stay for whoever still has one attached.
 */
const KEEP_IMAGES = 3;

/** Used when SOURCE_DATE_EPOCH is unset: 2024-01-01T00:00:00Z. Any fixed value will do. */
const DEFAULT_SOURCE_DATE_EPOCH = 1704067200;

const ISO_PATHS = {
  kernel: 'boot/vmlinuz',
  initrd: 'boot/initrd.img',
  node: 'node/bin/node',
  tether: 'tether',
  tetherMain: 'tether/main.js',
  /** The tether's native helper (src/tether/native), compiled statically at build time. */
  tetherHelper: 'tether/tether-helper',
} as const;

export interface BootstrapManifest {
  hash: string;
  volumeId: string;
  kernelRelease: string;
  cmdline: string;
  sourceDateEpoch: number;
  packages: Record<string, DebianPackage>;
  node: { version: string; sha256: string };
  modules: string[];
  /** Where things are on the CD. */
  paths: typeof ISO_PATHS;
}

export interface BootstrapImage {
  /** The cache directory of this image. */
  dir: string;
  iso: string;
  kernel: string;
  initrd: string;
  manifest: BootstrapManifest;
  /** True when it was already built. */
  cached: boolean;
}

export interface BuildOptions {
  /** Root of the cache; default `<repo>/.cache/bootstrap`. */
  cacheDir?: string;
  /** Directory whose main.js is the tether; default `dist/src/tether`, else the placeholder. */
  tetherDir?: string;
  /** C source of the tether's helper; default `src/tether/native/tether-helper.c`. */
  helperSource?: string;
  /** Node binary for the guest; default the one running this. */
  node?: string;
  /** Build even if the cache has it (into a fresh directory, replacing the cached one). */
  force?: boolean;
  sourceDateEpoch?: number;
  log?: (line: string) => void;
}

/** The repository root: the nearest parent holding the `vch` package.json. */
export function repoRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'vch') {
      return dir;
    }
    if (dirname(dir) === dir) throw new Error(`no vch package.json above ${from}`);
  }
}

/** The compiled tether if there is one, else the placeholder that proves the pipeline. */
export function defaultTetherDir(root: string = repoRoot()): string {
  const compiled = join(root, 'dist/src/tether');
  if (existsSync(join(compiled, 'main.js'))) return compiled;
  return join(root, 'src/bootstrap/fixtures/placeholder-tether');
}

function envEpoch(): number | undefined {
  const raw = process.env.SOURCE_DATE_EPOCH;
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d+$/.test(raw)) throw new Error(`SOURCE_DATE_EPOCH must be a number of seconds, not ${raw}`);
  return Number(raw);
}

export async function buildBootstrap(options: BuildOptions = {}): Promise<BootstrapImage> {
  const log = options.log ?? (() => {});
  const cacheDir = resolve(options.cacheDir ?? join(repoRoot(), '.cache/bootstrap'));
  const tetherDir = resolve(options.tetherDir ?? defaultTetherDir());
  if (!existsSync(join(tetherDir, 'main.js'))) throw new Error(`${tetherDir} has no main.js`);
  const epoch = options.sourceDateEpoch ?? envEpoch() ?? DEFAULT_SOURCE_DATE_EPOCH;
  const helperSource = resolve(options.helperSource ?? join(repoRoot(), 'src/tether/native/tether-helper.c'));
  const helperSha = await sha256File(helperSource);

  const runtime = await nodeRuntime(options.node);
  const nodeSha = await sha256File(runtime.node);
  const libraries = await Promise.all(
    runtime.libraries.map(async (l) => ({ path: l.guestPath, sha256: await sha256File(l.hostPath) })),
  );
  const hash = hashInputs({
    recipe: RECIPE_VERSION,
    packages: PACKAGES,
    modules: MODULES,
    cmdline: KERNEL_CMDLINE,
    volumeId: VOLUME_ID,
    // The init script's text, so editing it needs no RECIPE_VERSION bump.
    init: renderInit({
      modules: ['*'],
      nodePath: ISO_PATHS.node,
      tetherMain: ISO_PATHS.tetherMain,
      helperPath: ISO_PATHS.tetherHelper,
    }),
    epoch,
    node: nodeSha,
    libraries,
    tether: await sha256Tree(tetherDir),
    // The helper's source, not its binary: gcc's output is not byte-stable across hosts.
    tetherHelper: helperSha,
  });
  const dir = join(cacheDir, hash);
  const files = {
    iso: join(dir, 'bootstrap.iso'),
    kernel: join(dir, 'vmlinuz'),
    initrd: join(dir, 'initrd.img'),
    manifest: join(dir, 'manifest.json'),
  };
  if (!options.force && existsSync(files.manifest)) {
    const manifest = JSON.parse(await readFile(files.manifest, 'utf8')) as BootstrapManifest;
    const now = new Date();
    await utimes(files.manifest, now, now); // marks it used, for pruneCache
    log(`bootstrap ${hash.slice(0, 12)}: cached`);
    return { dir, ...files, manifest, cached: true };
  }

  log(`bootstrap ${hash.slice(0, 12)}: building (node ${runtime.version})`);
  const [kernelPkg, busyboxPkg, isolinuxPkg, syslinuxPkg] = await Promise.all(
    [PACKAGES.kernel, PACKAGES.busybox, PACKAGES.isolinux, PACKAGES.syslinux].map((p) => debContents(p, cacheDir)),
  );
  const modules = await selectModules(kernelPkg, KERNEL_RELEASE, MODULES);
  log(`modules: ${modules.map((m) => m.name).join(' ')}`);

  await mkdir(cacheDir, { recursive: true });
  const work = await mkdtemp(join(cacheDir, '.build-'));
  try {
    await chmod(work, 0o755); // mkdtemp makes it private; the cache entry is for everyone
    const stage = join(work, 'stage');
    await mkdir(join(stage, 'isolinux'), { recursive: true });
    const initrd = await buildInitramfs({
      busybox: join(busyboxPkg, 'bin/busybox'),
      modules,
      libraries: runtime.libraries,
      nodePath: ISO_PATHS.node,
      tetherMain: ISO_PATHS.tetherMain,
      tetherHelper: ISO_PATHS.tetherHelper,
      mtime: epoch,
    });
    const manifest: BootstrapManifest = {
      hash,
      volumeId: VOLUME_ID,
      kernelRelease: KERNEL_RELEASE,
      cmdline: KERNEL_CMDLINE,
      sourceDateEpoch: epoch,
      packages: PACKAGES,
      node: { version: runtime.version, sha256: nodeSha },
      modules: modules.map((m) => m.name),
      paths: ISO_PATHS,
    };
    const manifestJson = `${JSON.stringify(manifest, null, 2)}\n`;
    // isolinux patches its boot-info table into the copy on the ISO; stage a copy anyway so
    // no tool can ever write into the shared unpacked package.
    await Promise.all([
      writeFile(join(work, 'initrd.img'), initrd),
      writeFile(join(work, 'manifest.json'), manifestJson),
      copyFile(join(kernelPkg, `boot/vmlinuz-${KERNEL_RELEASE}`), join(work, 'vmlinuz')),
      copyFile(join(isolinuxPkg, 'usr/lib/ISOLINUX/isolinux.bin'), join(stage, 'isolinux/isolinux.bin')),
      copyFile(join(syslinuxPkg, 'usr/lib/syslinux/modules/bios/ldlinux.c32'), join(stage, 'isolinux/ldlinux.c32')),
      writeFile(
        join(stage, 'isolinux/isolinux.cfg'),
        `DEFAULT vch\nPROMPT 0\nTIMEOUT 0\nLABEL vch\n  KERNEL /${ISO_PATHS.kernel}\n  INITRD /${ISO_PATHS.initrd}\n  APPEND ${KERNEL_CMDLINE}\n`,
      ),
    ]);
    const helperBinary = join(work, 'tether-helper');
    await compileHelper(helperSource, helperBinary);
    const grafts = new Map<string, string>([
      [ISO_PATHS.kernel, join(work, 'vmlinuz')],
      [ISO_PATHS.initrd, join(work, 'initrd.img')],
      [ISO_PATHS.node, runtime.node],
      [ISO_PATHS.tether, tetherDir],
      [ISO_PATHS.tetherHelper, helperBinary],
      [MANIFEST_NAME, join(work, 'manifest.json')],
      ['isolinux', join(stage, 'isolinux')],
    ]);
    await writeIso(
      { volumeId: VOLUME_ID, files: grafts, bootImage: 'isolinux/isolinux.bin', bootCatalog: 'isolinux/boot.cat' },
      join(work, 'bootstrap.iso'),
      epoch,
    );
    await rm(stage, { recursive: true });
    if (options.force) await rm(dir, { recursive: true, force: true });
    await rename(work, dir).catch(async (err: unknown) => {
      // Another build of the same inputs finished first: its result is the same bytes as ours.
      if (existsSync(files.manifest)) await rm(work, { recursive: true, force: true });
      else throw err;
    });
    log(`bootstrap ${hash.slice(0, 12)}: built ${files.iso}`);
    await pruneCache(cacheDir, KEEP_IMAGES);
    return { dir, ...files, manifest, cached: false };
  } catch (err) {
    await rm(work, { recursive: true, force: true });
    throw err;
  }
}

/**
 * The helper, static (glibc's static libc covers its syscalls; the pty functions it uses
 * need no NSS), so it runs in the initramfs and in any container root alike.
 */
async function compileHelper(source: string, output: string): Promise<void> {
  await new Promise<void>((res, rej) => {
    execFile('gcc', ['-static', '-O2', '-s', '-o', output, source], (err, _out, stderr) => {
      if (err) rej(new Error(`gcc ${source}: ${stderr.trim() || err.message}`));
      else res();
    });
  });
}

/** Removes all but the `keep` most recently used images (by their manifest's mtime). */
export async function pruneCache(cacheDir: string, keep: number): Promise<string[]> {
  const images: Array<{ dir: string; used: number }> = [];
  for (const name of await readdir(cacheDir)) {
    if (!/^[0-9a-f]{64}$/.test(name)) continue;
    const used = await stat(join(cacheDir, name, 'manifest.json')).then(
      (s) => s.mtimeMs,
      () => 0,
    );
    images.push({ dir: join(cacheDir, name), used });
  }
  const old = images.sort((a, b) => b.used - a.used).slice(keep);
  for (const { dir } of old) await rm(dir, { recursive: true, force: true });
  return old.map((o) => o.dir);
}
