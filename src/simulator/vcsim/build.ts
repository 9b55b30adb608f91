/**
 * Builds our vcsim (main.go plus files compiled into govmomi's simulator package) from Debian's
 * golang-go and golang-github-vmware-govmomi-dev, cached by the hash of everything that goes
 * into it, so only the first caller on a machine pays the ~30 s build.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { access, constants, mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Debian installs the GOPATH-layout sources here; module mode would want a network. */
export const GOPATH = '/usr/share/gocode';
const SIMULATOR_PKG_DIR = path.join(GOPATH, 'src/github.com/vmware/govmomi/simulator');
const GOVMOMI_DEB = 'golang-github-vmware-govmomi-dev';
/** Bump when the way the binary is built changes, so cached binaries are not reused. */
const RECIPE = 'overlay zz_vch_*.go, -trimpath, v1';

export interface BuildOptions {
  log?: (msg: string) => void;
}

interface GoSource {
  file: string;
  pkg: string;
  content: Buffer;
}

/** The repository root: the nearest directory above this module with a package.json (works from src/ and dist/). */
export function repoRoot(from: string = __dirname): string {
  let dir = from;
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${from}`);
    dir = up;
  }
  return dir;
}

function goEnv(root: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, GO111MODULE: 'off', GOPATH, GOFLAGS: '' };
  // The default build cache lives in $HOME; without a HOME keep it in the repo's cache.
  if (!env.GOCACHE && !env.HOME) env.GOCACHE = path.join(root, '.cache', 'go-build');
  return env;
}

async function readSources(dir: string): Promise<GoSource[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.go') && !n.endsWith('_test.go')).sort();
  return Promise.all(
    names.map(async (name) => {
      const file = path.join(dir, name);
      const content = await readFile(file);
      const pkg = /^package\s+(\w+)/m.exec(content.toString('utf8'))?.[1];
      if (!pkg) throw new Error(`${file}: no package clause`);
      return { file, pkg, content };
    }),
  );
}

async function toolVersions(env: NodeJS.ProcessEnv): Promise<{ go: string; govmomi: string }> {
  const go = (await run('go', ['version'], { env })).stdout.trim();
  // Default output is "package<TAB>version".
  const govmomi = (await run('dpkg-query', ['-W', GOVMOMI_DEB])).stdout.trim().split('\t')[1] ?? '';
  return { go, govmomi };
}

function inputHash(sources: GoSource[], versions: { go: string; govmomi: string }): string {
  const h = createHash('sha256');
  h.update(`${RECIPE}\n${versions.go}\n${GOVMOMI_DEB} ${versions.govmomi}\n`);
  for (const s of sources) {
    h.update(`${path.basename(s.file)}\n${s.content.length}\n`);
    h.update(s.content);
  }
  return h.digest('hex').slice(0, 32);
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Takes a per-hash lock file so that parallel callers (jest workers, other engineers' runs on the
 * same 2 cores) wait for one build instead of each running their own. A lock left by a dead
 * process is taken over.
 */
async function withBuildLock<T>(lockFile: string, done: () => Promise<boolean>, fn: () => Promise<T | undefined>) {
  for (;;) {
    try {
      const handle = await open(lockFile, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      try {
        return await fn();
      } finally {
        await rm(lockFile, { force: true });
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number.parseInt(await readFile(lockFile, 'utf8').catch(() => ''), 10);
    if (Number.isFinite(owner) && !pidAlive(owner)) {
      await rm(lockFile, { force: true });
      continue;
    }
    if (await done()) return undefined;
    await sleep(500);
  }
}

async function build(dir: string, sources: GoSource[], out: string, env: NodeJS.ProcessEnv): Promise<void> {
  const mains = sources.filter((s) => s.pkg === 'main').map((s) => path.basename(s.file));
  const overlay: Record<string, string> = {};
  for (const s of sources) {
    if (s.pkg === 'main') continue;
    if (s.pkg !== 'simulator') throw new Error(`${s.file}: package ${s.pkg} is neither main nor simulator`);
    // A new file in the package's directory, seen only by this build: the package's own files stay untouched.
    overlay[path.join(SIMULATOR_PKG_DIR, `zz_vch_${path.basename(s.file)}`)] = s.file;
  }
  const overlayFile = `${out}.overlay.json`;
  await writeFile(overlayFile, JSON.stringify({ Replace: overlay }));
  try {
    await run('go', ['build', '-overlay', overlayFile, '-trimpath', '-o', out, ...mains], {
      cwd: dir,
      env,
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`go build of vcsim failed: ${stderr.trim() || String(err)}`);
  } finally {
    await rm(overlayFile, { force: true });
  }
}

let pending: Promise<string> | undefined;

/** Path of the vcsim binary for the current sources and toolchain, building it if needed. */
export function ensureSimulatorBinary(opts: BuildOptions = {}): Promise<string> {
  // One build per process, however many callers ask at once.
  pending ??= ensureBinary(opts).catch((err: unknown) => {
    pending = undefined;
    throw err;
  });
  return pending;
}

async function ensureBinary(opts: BuildOptions): Promise<string> {
  const log = opts.log ?? (() => {});
  const root = repoRoot();
  const dir = path.join(root, 'src', 'simulator', 'vcsim');
  const env = goEnv(root);
  const [sources, versions] = await Promise.all([readSources(dir), toolVersions(env)]);
  const hash = inputHash(sources, versions);
  const cacheDir = path.join(root, '.cache', 'vcsim', hash);
  const binary = path.join(cacheDir, 'vcsim');
  if (await isExecutable(binary)) return binary;

  await mkdir(cacheDir, { recursive: true });
  await withBuildLock(
    path.join(cacheDir, 'build.lock'),
    () => isExecutable(binary),
    async () => {
      if (await isExecutable(binary)) return; // another process finished while we waited
      const tmp = path.join(cacheDir, `vcsim.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
      log(`building vcsim (${versions.go}, govmomi ${versions.govmomi}) into ${cacheDir}`);
      const started = Date.now();
      try {
        await build(dir, sources, tmp, env);
        await rename(tmp, binary); // atomic: nobody ever sees a half-written binary
      } finally {
        await rm(tmp, { force: true });
      }
      log(`built vcsim in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    },
  );
  if (!(await isExecutable(binary))) throw new Error(`vcsim build produced no binary at ${binary}`);
  return binary;
}
