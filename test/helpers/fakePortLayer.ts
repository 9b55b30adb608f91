/**
 * An in-memory port layer: images and system facts kept in maps, with a fake "registry" of
 * images that can be pulled. It lets the personality's HTTP behaviour be tested — by unit
 * tests and by the real docker CLI — without vSphere or a registry, and it follows the
 * contract in `portlayer/api.ts` the way the real image store must (messages, conflicts,
 * untag-before-delete), so it doubles as an executable reading of that contract.
 */

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import {
  ConflictError,
  type ContainerAttachment,
  type ContainerConfig,
  type ContainerCreateResult,
  type ContainerCreateSpec,
  type ContainerDetails,
  type ContainerExecOptions,
  type ContainerLifecycleEvent,
  type ContainerListOptions,
  type ContainerLogEntry,
  type ContainerLogOptions,
  type ContainerLogs,
  type ContainerResources,
  type ContainerService,
  type ContainerState,
  type ContainerStatsSample,
  type ContainerStdio,
  type ContainerStopOptions,
  type ContainerSummary,
  type ContainerTop,
  type ContainerUpdate,
  type ContainerWaitResult,
  type ImageDeleteItem,
  type ImageDetails,
  type ImageHistoryEntry,
  type ImagePruneOptions,
  type ImagePruneResult,
  type ImageRemoveOptions,
  type ImageRunConfig,
  type ImageService,
  type ImageSummary,
  InvalidParameterError,
  NotFoundError,
  type PortLayer,
  type PullOptions,
  type PullResult,
  type RestartPolicy,
  SystemError,
  type SystemInfo,
  type SystemService,
  type SystemVersion,
  UnavailableError,
  type WaitCondition,
} from '../../src/portlayer/api';
import { shouldRestart } from '../../src/portlayer/execution/restart-policy';
import {
  familiarReference,
  type ImageReference,
  InvalidReferenceError,
  parseReference,
} from '../../src/portlayer/storage/registry/reference';

/** An image the fake registry offers. */
export interface FakeRemoteImage {
  /** Any normalisable reference: `busybox`, `127.0.0.1:5000/foo/bar:1`. */
  readonly reference: string;
  /** Uncompressed size of each layer in bytes, bottom first. */
  readonly layerSizes: readonly number[];
  readonly config?: ImageRunConfig;
  readonly created?: Date;
}

interface StoredImage {
  readonly id: string;
  readonly created: Date;
  readonly config: ImageRunConfig;
  readonly layers: readonly { readonly diffId: string; readonly size: number }[];
  /** Familiar references. */
  readonly tags: Set<string>;
  readonly digests: Set<string>;
  lastTagTime?: Date;
}

function sha256(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

function tryParse(ref: string): ImageReference | undefined {
  try {
    return parseReference(ref);
  } catch (err) {
    if (err instanceof InvalidReferenceError) return undefined;
    throw err;
  }
}

/** `busybox:latest` → `busybox`; `x@sha256:…` → `x`. */
function familiarName(ref: ImageReference): string {
  return familiarReference({ domain: ref.domain, path: ref.path });
}

export interface FakeImageServiceOptions {
  readonly remote?: readonly FakeRemoteImage[];
  /** Pause between progress events, to let tests watch a pull in flight or abort it. */
  readonly eventDelayMs?: number;
}

export class FakeImageService implements ImageService {
  private readonly images = new Map<string, StoredImage>();
  private readonly remote = new Map<string, FakeRemoteImage>();
  /** Image ids containers use, with the container ids. */
  private readonly inUse = new Map<string, string>();
  private readonly eventDelayMs: number;

  constructor(options: FakeImageServiceOptions = {}) {
    for (const r of options.remote ?? []) this.remote.set(familiarReference(parseReference(r.reference)), r);
    this.eventDelayMs = options.eventDelayMs ?? 0;
  }

  /** Puts an image straight into the store, as if pulled earlier. Returns its id. */
  seed(remote: FakeRemoteImage): string {
    const ref = parseReference(remote.reference);
    const stored = this.materialise(remote);
    this.addTag(stored, familiarReference(ref));
    stored.digests.add(`${familiarName(ref)}@${sha256(`manifest:${familiarReference(ref)}`)}`);
    return stored.id;
  }

  /** Marks an image as used by a container, so removal conflicts. */
  markInUse(imageId: string, containerId: string): void {
    this.inUse.set(imageId, containerId);
  }

  async pull(refText: string, options: PullOptions): Promise<PullResult> {
    const ref = parseReference(refText);
    const familiar = familiarReference(ref);
    const remote = this.remote.get(familiar);
    if (remote === undefined) {
      throw new NotFoundError(
        'image',
        familiar,
        `pull access denied for ${familiarName(ref)}, repository does not exist or may require 'docker login'`,
      );
    }
    const step = async (): Promise<void> => {
      if (options.signal?.aborted) throw new UnavailableError('pull aborted: client went away');
      if (this.eventDelayMs > 0) await new Promise((r) => setTimeout(r, this.eventDelayMs));
      if (options.signal?.aborted) throw new UnavailableError('pull aborted: client went away');
    };
    const manifestDigest = sha256(`manifest:${familiar}`);
    const id = sha256(`config:${familiar}`);
    const existing = this.images.get(id);
    const upToDate = existing?.tags.has(familiar) ?? false;
    options.onProgress({ type: 'pulling-from', tag: ref.digest ?? ref.tag ?? 'latest', repository: ref.path });
    if (!upToDate) {
      const layers = this.layersOf(remote);
      const have = new Set([...this.images.values()].flatMap((i) => i.layers.map((l) => l.diffId)));
      const missing = layers.filter((l) => !have.has(l.diffId));
      for (const l of layers) {
        if (have.has(l.diffId))
          options.onProgress({ type: 'layer', layer: shortId(l.diffId), status: 'Already exists' });
      }
      for (const l of missing)
        options.onProgress({ type: 'layer', layer: shortId(l.diffId), status: 'Pulling fs layer' });
      for (const l of missing) {
        const chunk = Math.max(1, Math.ceil(l.size / 3));
        for (let done = chunk; done < l.size + chunk; done += chunk) {
          await step();
          const current = Math.min(done, l.size);
          options.onProgress({
            type: 'layer',
            layer: shortId(l.diffId),
            status: 'Downloading',
            current,
            total: l.size,
          });
        }
        options.onProgress({ type: 'layer', layer: shortId(l.diffId), status: 'Verifying Checksum' });
        options.onProgress({ type: 'layer', layer: shortId(l.diffId), status: 'Download complete' });
      }
      for (const l of missing) {
        await step();
        options.onProgress({
          type: 'layer',
          layer: shortId(l.diffId),
          status: 'Extracting',
          current: l.size,
          total: l.size,
        });
        options.onProgress({ type: 'layer', layer: shortId(l.diffId), status: 'Pull complete' });
      }
      const stored = this.materialise(remote);
      this.addTag(stored, familiar);
      stored.digests.add(`${familiarName(ref)}@${manifestDigest}`);
    }
    options.onProgress({ type: 'digest', digest: manifestDigest });
    options.onProgress({ type: 'status', upToDate, reference: familiar });
    return { id, reference: familiar, digest: manifestDigest, upToDate };
  }

  async list(): Promise<readonly ImageSummary[]> {
    return [...this.images.values()].map((i) => this.summary(i));
  }

  async inspect(nameOrId: string): Promise<ImageDetails> {
    const image = this.resolve(nameOrId);
    return {
      ...this.summary(image),
      comment: '',
      author: '',
      architecture: 'amd64',
      os: 'linux',
      config: image.config,
      layers: image.layers.map((l) => l.diffId),
      ...(image.lastTagTime !== undefined ? { lastTagTime: image.lastTagTime } : {}),
    };
  }

  async history(nameOrId: string): Promise<readonly ImageHistoryEntry[]> {
    const image = this.resolve(nameOrId);
    const entries = image.layers.map((l, i) => ({
      id: i === image.layers.length - 1 ? image.id : '<missing>',
      created: image.created,
      createdBy: `/bin/sh -c #(nop) ADD file:${l.diffId.slice(7, 19)} in /`,
      tags: i === image.layers.length - 1 ? [...image.tags] : [],
      size: l.size,
      comment: '',
    }));
    return entries.reverse();
  }

  async tag(source: string, target: string): Promise<void> {
    const image = this.resolve(source);
    const familiar = familiarReference(parseReference(target));
    for (const other of this.images.values()) other.tags.delete(familiar);
    this.addTag(image, familiar);
  }

  async remove(nameOrId: string, options: ImageRemoveOptions): Promise<readonly ImageDeleteItem[]> {
    const image = this.resolve(nameOrId);
    const ref = tryParse(nameOrId);
    const byTag = ref !== undefined && image.tags.has(familiarReference(ref));
    const container = this.inUse.get(image.id);
    if (container !== undefined && !options.force) {
      const what = byTag ? `remove repository reference "${nameOrId}"` : `delete ${shortId(image.id)}`;
      throw new ConflictError(
        `conflict: unable to ${what} (must force) - container ${shortId(container)} is using its referenced image ${shortId(image.id)}`,
      );
    }
    if (byTag && (image.tags.size > 1 || container !== undefined)) {
      const familiar = familiarReference(ref!);
      image.tags.delete(familiar);
      return [{ untagged: familiar }];
    }
    if (!byTag && image.tags.size > 1 && !options.force) {
      throw new ConflictError(
        `conflict: unable to delete ${shortId(image.id)} (must be forced) - image is referenced in multiple repositories`,
      );
    }
    return this.deleteImage(image);
  }

  async prune(options: ImagePruneOptions): Promise<ImagePruneResult> {
    const deleted: ImageDeleteItem[] = [];
    let spaceReclaimed = 0;
    for (const image of [...this.images.values()]) {
      if (this.inUse.has(image.id) || !options.select(this.summary(image))) continue;
      spaceReclaimed += this.summary(image).size;
      deleted.push(...this.deleteImage(image));
    }
    return { deleted, spaceReclaimed };
  }

  private deleteImage(image: StoredImage): ImageDeleteItem[] {
    const items: ImageDeleteItem[] = [...image.tags].map((t) => ({ untagged: t }));
    items.push(...[...image.digests].map((d) => ({ untagged: d })));
    this.images.delete(image.id);
    items.push({ deleted: image.id });
    const stillUsed = new Set([...this.images.values()].flatMap((i) => i.layers.map((l) => l.diffId)));
    for (const l of image.layers) if (!stillUsed.has(l.diffId)) items.push({ deleted: l.diffId });
    return items;
  }

  private layersOf(remote: FakeRemoteImage): { diffId: string; size: number }[] {
    const name = familiarReference(parseReference(remote.reference));
    return remote.layerSizes.map((size, i) => ({ diffId: sha256(`layer:${name}:${i}`), size }));
  }

  private materialise(remote: FakeRemoteImage): StoredImage {
    const familiar = familiarReference(parseReference(remote.reference));
    const id = sha256(`config:${familiar}`);
    const existing = this.images.get(id);
    if (existing !== undefined) return existing;
    const stored: StoredImage = {
      id,
      created: remote.created ?? new Date('2024-01-01T00:00:00Z'),
      config: remote.config ?? {
        cmd: ['sh'],
        env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      },
      layers: this.layersOf(remote),
      tags: new Set(),
      digests: new Set(),
    };
    this.images.set(id, stored);
    return stored;
  }

  private addTag(image: StoredImage, familiar: string): void {
    image.tags.add(familiar);
    image.lastTagTime = new Date();
  }

  private summary(image: StoredImage): ImageSummary {
    return {
      id: image.id,
      parentId: '',
      repoTags: [...image.tags].sort(),
      repoDigests: [...image.digests].sort(),
      created: image.created,
      size: image.layers.reduce((n, l) => n + l.size, 0),
      labels: image.config.labels ?? {},
      containers: this.inUse.has(image.id) ? 1 : 0,
    };
  }

  /** By tag, by digest reference, then by full id or unique id prefix, as dockerd looks images up. */
  private resolve(nameOrId: string): StoredImage {
    const ref = tryParse(nameOrId);
    if (ref !== undefined) {
      const familiar = familiarReference(ref);
      for (const image of this.images.values()) {
        if (image.tags.has(familiar) || image.digests.has(familiar)) return image;
      }
    }
    const hex = nameOrId.replace(/^sha256:/, '');
    if (/^[a-f0-9]+$/.test(hex)) {
      const matches = [...this.images.values()].filter((i) => i.id.slice(7).startsWith(hex));
      if (matches.length === 1) return matches[0]!;
    }
    throw new NotFoundError('image', ref !== undefined ? familiarReference(ref) : nameOrId);
  }
}

export const FAKE_SYSTEM_INFO: SystemInfo = {
  name: 'vch-test',
  id: 'VCH0:TEST:0000',
  vsphere: {
    target: 'https://127.0.0.1:8989/sdk',
    product: 'VMware vCenter Server (govmomi simulator)',
    resourcePool: '/DC0/host/DC0_C0/Resources/vch-test',
    imageStore: { name: 'LocalDS_0', capacity: 100 * 2 ** 30, free: 80 * 2 ** 30 },
    volumeStores: [{ name: 'LocalDS_0' }],
    networks: ['bridge', 'VM Network'],
    instantClone: true,
  },
  containers: { running: 1, paused: 0, stopped: 2 },
  images: 0,
  cpus: 4,
  memoryBytes: 8 * 2 ** 30,
  kernelVersion: '6.1.0-vch',
  operatingSystem: 'VMware vSphere (VCH)',
};

export class FakeSystemService implements SystemService {
  constructor(
    private readonly images: ImageService,
    private readonly info_: SystemInfo = FAKE_SYSTEM_INFO,
  ) {}

  async info(): Promise<SystemInfo> {
    return { ...this.info_, images: (await this.images.list()).length };
  }

  async version(): Promise<SystemVersion> {
    return { version: '0.1.0', gitCommit: 'fake', buildTime: '2025-01-01T00:00:00Z', kernelVersion: '6.1.0-vch' };
  }
}

// ---------------------------------------------------------------------------------------
// Containers: host child processes standing in for container VMs
// ---------------------------------------------------------------------------------------

interface FakeAttachment {
  readonly stdio: ContainerStdio;
  resolve(code: number): void;
  detached: boolean;
  wired: boolean;
}

interface FakeContainer {
  readonly id: string;
  name: string;
  readonly created: Date;
  readonly config: ContainerConfig;
  state: ContainerState;
  hostConfig: { autoRemove: boolean; restartPolicy: RestartPolicy; resources: ContainerResources };
  restartCount: number;
  proc?: ChildProcess;
  /** Stopped by stop/kill/rm: restart policies other than `always` then leave it stopped. */
  stoppedByUser: boolean;
  size: { rows: number; cols: number };
  readonly attachments: Set<FakeAttachment>;
  readonly logs: ContainerLogEntry[];
  readonly followers: Set<(e: ContainerLogEntry | undefined) => void>;
  exitWaiters: ((r: ContainerWaitResult) => void)[];
  removedWaiters: ((r: ContainerWaitResult) => void)[];
}

const ADJECTIVES = ['brave', 'calm', 'eager', 'fancy', 'gentle', 'happy', 'jolly', 'kind', 'lucid', 'quirky'];
const NOUNS = ['turing', 'hopper', 'lovelace', 'ritchie', 'thompson', 'knuth', 'dijkstra', 'liskov', 'hamilton'];

function quoteArg(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** `KEY=v` lists merged, later keys winning (Docker's rule for image env + create env). */
function mergeEnv(base: readonly string[], extra: readonly string[]): string[] {
  const out = new Map<string, string>();
  for (const e of [...base, ...extra]) out.set(e.split('=')[0]!, e);
  return [...out.values()];
}

function envObject(env: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of env) {
    const eq = e.indexOf('=');
    if (eq > 0) out[e.slice(0, eq)] = e.slice(eq + 1);
  }
  return out;
}

/**
 * A process for `argv`, with a pseudo-terminal from util-linux `script` when `tty` (Node
 * has no pty of its own), resolved once it runs; ENOENT becomes Docker's start error, whose
 * "executable file not found" text makes the CLI exit 127.
 */
async function spawnProcess(
  argv: readonly string[],
  env: readonly string[],
  tty: boolean,
  size: { rows: number; cols: number },
): Promise<ChildProcess> {
  const child = tty
    ? spawn(
        'script',
        [
          '-qfec',
          `stty rows ${size.rows} cols ${size.cols} 2>/dev/null; exec ${argv.map(quoteArg).join(' ')}`,
          '/dev/null',
        ],
        { env: envObject(env), stdio: 'pipe' },
      )
    : spawn(argv[0]!, argv.slice(1), { env: envObject(env), stdio: 'pipe' });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'EACCES') {
        const what = err.code === 'ENOENT' ? 'executable file not found in $PATH' : 'permission denied';
        reject(
          new SystemError(
            `failed to create task for container: failed to create shim task: OCI runtime create failed: unable to start container process: exec: "${argv[0]}": ${what}: unknown`,
          ),
        );
      } else reject(err);
    });
  });
  return child;
}

export class FakeContainerService implements ContainerService {
  private readonly containers = new Map<string, FakeContainer>();
  private readonly lifecycle = new Set<(e: ContainerLifecycleEvent) => void>();

  constructor(private readonly images: ImageService) {}

  async create(spec: ContainerCreateSpec): Promise<ContainerCreateResult> {
    const image = await this.images.inspect(spec.image);
    const name = spec.name?.replace(/^\//, '') ?? this.madeUpName();
    const holder = [...this.containers.values()].find((c) => c.name === name);
    if (holder !== undefined) {
      throw new ConflictError(
        `Conflict. The container name "/${name}" is already in use by container "${holder.id}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    }
    const id = randomBytes(32).toString('hex');
    const entrypoint = spec.entrypoint ?? image.config.entrypoint ?? [];
    const cmd =
      spec.cmd !== undefined && spec.cmd.length > 0
        ? spec.cmd
        : spec.entrypoint !== undefined
          ? []
          : (image.config.cmd ?? []);
    const container: FakeContainer = {
      id,
      name,
      created: new Date(),
      config: {
        image: spec.image,
        imageId: image.id,
        hostname: spec.hostname ?? id.slice(0, 12),
        domainname: spec.domainname ?? '',
        user: spec.user ?? image.config.user ?? '',
        env: mergeEnv(image.config.env ?? [], spec.env ?? []),
        cmd,
        entrypoint,
        workingDir: spec.workingDir ?? image.config.workingDir ?? '',
        tty: spec.tty ?? false,
        openStdin: spec.openStdin ?? false,
        stdinOnce: spec.stdinOnce ?? false,
        labels: { ...image.config.labels, ...spec.labels },
        ...(spec.stopSignal !== undefined ? { stopSignal: spec.stopSignal } : {}),
        ...(spec.stopTimeout !== undefined ? { stopTimeout: spec.stopTimeout } : {}),
      },
      state: { status: 'created', running: false, pid: 0, exitCode: 0, error: '' },
      hostConfig: {
        autoRemove: spec.autoRemove ?? false,
        restartPolicy: spec.restartPolicy ?? { name: 'no' },
        resources: spec.resources ?? {},
      },
      restartCount: 0,
      stoppedByUser: false,
      size: { rows: 24, cols: 80 },
      attachments: new Set(),
      logs: [],
      followers: new Set(),
      exitWaiters: [],
      removedWaiters: [],
    };
    this.containers.set(id, container);
    return { id, warnings: [] };
  }

  async start(nameOrId: string): Promise<void> {
    const c = this.find(nameOrId);
    if (c.state.running) return;
    const argv = [...c.config.entrypoint, ...c.config.cmd];
    if (argv.length === 0) throw new InvalidParameterError('no command specified');
    c.stoppedByUser = false;
    const env = mergeEnv([`HOSTNAME=${c.config.hostname}`, 'HOME=/root'], c.config.env);
    let child: ChildProcess;
    try {
      child = await spawnProcess(argv, env, c.config.tty, c.size);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.exited(c, 127, message);
      throw err;
    }
    c.proc = child;
    c.state = { status: 'running', running: true, pid: child.pid ?? 0, exitCode: 0, error: '', startedAt: new Date() };
    const record = (stream: 'stdout' | 'stderr') => (data: Buffer) => {
      const entry: ContainerLogEntry = { stream, time: new Date(), data };
      c.logs.push(entry);
      for (const f of c.followers) f(entry);
      for (const a of c.attachments) {
        if (a.detached) continue;
        const target = stream === 'stdout' || c.config.tty ? a.stdio.stdout : a.stdio.stderr;
        target?.write(data);
      }
    };
    child.stdout?.on('data', record('stdout'));
    child.stderr?.on('data', record('stderr'));
    child.stdin?.on('error', () => undefined); // EPIPE when the process ignores its stdin
    if (!c.config.openStdin) child.stdin?.end();
    for (const a of c.attachments) this.wireStdin(c, a);
    child.on('close', (code, signal) => {
      const exitCode = code ?? 128 + (signal !== null ? (os.constants.signals[signal] ?? 0) : 0);
      c.proc = undefined;
      this.exited(c, exitCode, '');
    });
    this.emit({ action: 'start', container: this.details(c) });
  }

  subscribe(listener: (e: ContainerLifecycleEvent) => void): () => void {
    this.lifecycle.add(listener);
    return () => this.lifecycle.delete(listener);
  }

  private emit(e: ContainerLifecycleEvent): void {
    for (const l of [...this.lifecycle]) l(e);
  }

  async attach(
    nameOrId: string,
    stdio: ContainerStdio,
    size?: { readonly rows: number; readonly cols: number },
  ): Promise<ContainerAttachment> {
    const c = this.find(nameOrId);
    if (size !== undefined) c.size = { ...size };
    let resolve: (code: number) => void = () => undefined;
    const exitCode = new Promise<number>((r) => {
      resolve = r;
    });
    const a: FakeAttachment = { stdio, resolve, detached: false, wired: false };
    c.attachments.add(a);
    if (c.state.running) this.wireStdin(c, a);
    return {
      tty: c.config.tty,
      resize: (rows, cols) => {
        c.size = { rows, cols };
      },
      exitCode,
      detach: () => {
        a.detached = true;
        c.attachments.delete(a);
      },
    };
  }

  async exec(nameOrId: string, options: ContainerExecOptions, stdio: ContainerStdio): Promise<ContainerAttachment> {
    const c = this.find(nameOrId);
    if (!c.state.running) throw new ConflictError(`Container ${c.id} is not running`);
    const env = mergeEnv([`HOSTNAME=${c.config.hostname}`, ...c.config.env], options.env ?? []);
    const child = await spawnProcess(options.cmd, env, options.tty ?? false, options.size ?? { rows: 24, cols: 80 });
    child.stdout?.on('data', (d: Buffer) => stdio.stdout?.write(d));
    child.stderr?.on('data', (d: Buffer) => (options.tty ? stdio.stdout : stdio.stderr)?.write(d));
    child.stdin?.on('error', () => undefined);
    if (stdio.stdin !== undefined) stdio.stdin.pipe(child.stdin!);
    else child.stdin?.end();
    const exitCode = new Promise<number>((resolve) => {
      child.on('close', (code, signal) =>
        resolve(code ?? 128 + (signal !== null ? (os.constants.signals[signal] ?? 0) : 0)),
      );
    });
    return {
      tty: options.tty ?? false,
      resize: () => undefined,
      exitCode,
      detach: () => {
        stdio.stdin?.unpipe(child.stdin!);
      },
    };
  }

  async resize(nameOrId: string, rows: number, cols: number): Promise<void> {
    this.find(nameOrId).size = { rows, cols };
  }

  async wait(nameOrId: string, condition: WaitCondition = 'not-running'): Promise<ContainerWaitResult> {
    const c = this.find(nameOrId);
    return new Promise((resolve) => {
      if (condition === 'removed') c.removedWaiters.push(resolve);
      else if (condition === 'not-running' && !c.state.running)
        resolve({ exitCode: c.state.exitCode, ...(c.state.error ? { error: c.state.error } : {}) });
      else c.exitWaiters.push(resolve);
    });
  }

  async stop(nameOrId: string, options: ContainerStopOptions = {}): Promise<void> {
    const c = this.find(nameOrId);
    if (!c.state.running || c.proc === undefined) return;
    c.stoppedByUser = true;
    const exited = this.wait(c.id, 'next-exit');
    c.proc.kill((options.signal ?? c.config.stopSignal ?? 'SIGTERM') as NodeJS.Signals);
    const timeoutS = options.timeout ?? c.config.stopTimeout ?? 10;
    const timer = setTimeout(() => c.proc?.kill('SIGKILL'), timeoutS * 1000);
    await exited;
    clearTimeout(timer);
  }

  async kill(nameOrId: string, signal = 'SIGKILL'): Promise<void> {
    const c = this.find(nameOrId);
    if (!c.state.running || c.proc === undefined) throw new ConflictError(`Container ${c.id} is not running`);
    c.stoppedByUser = true;
    c.proc.kill(signal as NodeJS.Signals);
  }

  async remove(nameOrId: string, options: { readonly force?: boolean } = {}): Promise<void> {
    const c = this.find(nameOrId);
    if (c.state.running && !options.force) {
      throw new ConflictError(
        `cannot remove container "/${c.name}": container is running: stop the container before removing or force remove`,
      );
    }
    if (c.state.running) {
      c.hostConfig = { ...c.hostConfig, autoRemove: false };
      const exited = this.wait(c.id, 'next-exit');
      c.stoppedByUser = true;
      c.proc?.kill('SIGKILL');
      await exited;
    }
    this.forget(c);
  }

  async inspect(nameOrId: string): Promise<ContainerDetails> {
    return this.details(this.find(nameOrId));
  }

  async list(options: ContainerListOptions = {}): Promise<readonly ContainerSummary[]> {
    return [...this.containers.values()]
      .filter((c) => options.all || c.state.running)
      .map((c) => this.details(c))
      .sort((a, b) => b.created.getTime() - a.created.getTime());
  }

  async readLogs(nameOrId: string, options: ContainerLogOptions): Promise<ContainerLogs> {
    const c = this.find(nameOrId);
    const backlog = [...c.logs];
    if (!options.follow || !c.state.running) return { backlog, ended: Promise.resolve(), close: () => undefined };
    let finish: () => void = () => undefined;
    const ended = new Promise<void>((r) => {
      finish = r;
    });
    const follower = (e: ContainerLogEntry | undefined): void => {
      if (e === undefined) {
        c.followers.delete(follower);
        finish();
      } else options.onEntry?.(e);
    };
    c.followers.add(follower);
    return {
      backlog,
      ended,
      close: () => follower(undefined),
    };
  }

  async rename(nameOrId: string, newName: string): Promise<void> {
    const c = this.find(nameOrId);
    const holder = [...this.containers.values()].find((x) => x.name === newName);
    if (holder !== undefined) {
      throw new ConflictError(
        `Error when allocating new name: Conflict. The container name "/${newName}" is already in use by container "${holder.id}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    }
    c.name = newName;
  }

  async top(nameOrId: string, psArgs = '-ef'): Promise<ContainerTop> {
    const c = this.find(nameOrId);
    if (!c.state.running) throw new ConflictError(`Container ${c.id} is not running`);
    void psArgs; // the host's ps shows the one process whatever the arguments
    const out = await new Promise<string>((resolve, reject) =>
      execFile('ps', ['-o', 'uid,pid,ppid,c,stime,tty,time,args', '-p', String(c.state.pid)], (err, stdout) =>
        err ? reject(new SystemError(`ps failed: ${err.message}`)) : resolve(stdout),
      ),
    );
    const [header, ...rows] = out.trimEnd().split('\n');
    const titles = header!.trim().split(/\s+/);
    titles[titles.length - 1] = 'CMD';
    const processes = rows.map((row) => {
      const cols = row.trim().split(/\s+/);
      return [...cols.slice(0, titles.length - 1), cols.slice(titles.length - 1).join(' ')];
    });
    return { titles: ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD'], processes };
  }

  async stats(nameOrId: string): Promise<ContainerStatsSample> {
    const c = this.find(nameOrId);
    const limit = c.hostConfig.resources.memoryBytes ?? 2 ** 30;
    const zero: ContainerStatsSample = {
      read: new Date(),
      cpuTotalNs: 0,
      systemCpuNs: 0,
      onlineCpus: os.cpus().length,
      memoryUsageBytes: 0,
      memoryLimitBytes: limit,
      pids: 0,
      networks: { eth0: { rxBytes: 0, txBytes: 0 } },
    };
    if (!c.state.running) return zero;
    try {
      const stat = fs.readFileSync(`/proc/${c.state.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(fields[11]) + Number(fields[12]);
      const cpuLine = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1);
      const systemTicks = cpuLine.reduce((n, v) => n + (Number(v) || 0), 0);
      const rss = /VmRSS:\s+([0-9]+) kB/.exec(fs.readFileSync(`/proc/${c.state.pid}/status`, 'utf8'));
      return {
        ...zero,
        cpuTotalNs: ticks * 10_000_000,
        systemCpuNs: systemTicks * 10_000_000,
        memoryUsageBytes: rss ? Number(rss[1]) * 1024 : 0,
        pids: 1,
      };
    } catch {
      return zero; // exited between the check and the read
    }
  }

  async update(nameOrId: string, update: ContainerUpdate): Promise<{ readonly warnings: readonly string[] }> {
    const c = this.find(nameOrId);
    c.hostConfig = {
      ...c.hostConfig,
      ...(update.restartPolicy !== undefined ? { restartPolicy: update.restartPolicy } : {}),
      resources: { ...c.hostConfig.resources, ...update.resources },
    };
    return { warnings: [] };
  }

  /** Kills every process still running (test teardown). */
  shutdown(): void {
    for (const c of this.containers.values()) c.proc?.kill('SIGKILL');
  }

  private wireStdin(c: FakeContainer, a: FakeAttachment): void {
    const stdin = a.stdio.stdin;
    const target = c.proc?.stdin;
    if (a.wired || stdin === undefined || target === undefined || target === null || !c.config.openStdin) return;
    a.wired = true;
    stdin.on('data', (d: Buffer) => {
      if (!a.detached && target.writable) target.write(d);
    });
    // The client's half-close: EOF for the process when the container wants stdin once.
    stdin.on('end', () => {
      if (c.config.stdinOnce && !a.detached) target.end();
    });
  }

  private exited(c: FakeContainer, exitCode: number, error: string): void {
    c.state = {
      status: 'exited',
      running: false,
      pid: 0,
      exitCode,
      error,
      ...(c.state.startedAt !== undefined ? { startedAt: c.state.startedAt } : {}),
      finishedAt: new Date(),
    };
    const result: ContainerWaitResult = { exitCode, ...(error ? { error } : {}) };
    for (const a of [...c.attachments]) a.resolve(exitCode);
    c.attachments.clear();
    for (const f of [...c.followers]) f(undefined);
    const waiters = c.exitWaiters;
    c.exitWaiters = [];
    for (const w of waiters) w(result);
    this.emit({ action: 'die', container: this.details(c), exitCode });
    const again = shouldRestart(
      { policy: c.hostConfig.restartPolicy, count: c.restartCount, manuallyStopped: c.stoppedByUser },
      exitCode,
    );
    if (again) {
      c.restartCount++;
      setTimeout(() => void this.start(c.id).catch(() => undefined), 100).unref();
    } else if (c.hostConfig.autoRemove) this.forget(c);
  }

  private forget(c: FakeContainer): void {
    this.containers.delete(c.id);
    this.emit({ action: 'destroy', container: this.details(c) });
    const result: ContainerWaitResult = {
      exitCode: c.state.exitCode,
      ...(c.state.error ? { error: c.state.error } : {}),
    };
    for (const w of c.removedWaiters) w(result);
    c.removedWaiters = [];
  }

  private madeUpName(): string {
    for (;;) {
      const name = `${ADJECTIVES[randomInt(ADJECTIVES.length)]}_${NOUNS[randomInt(NOUNS.length)]}${randomInt(100)}`;
      if (![...this.containers.values()].some((c) => c.name === name)) return name;
    }
  }

  /** Full id, name (with or without '/'), or unique id prefix, as dockerd resolves them. */
  private find(ref: string): FakeContainer {
    const exact = this.containers.get(ref);
    if (exact !== undefined) return exact;
    const bare = ref.replace(/^\//, '');
    const byName = [...this.containers.values()].find((c) => c.name === bare);
    if (byName !== undefined) return byName;
    if (/^[a-f0-9]+$/.test(ref)) {
      const matches = [...this.containers.values()].filter((c) => c.id.startsWith(ref));
      if (matches.length === 1) return matches[0]!;
      if (matches.length > 1) throw new InvalidParameterError(`Multiple IDs found with provided prefix: ${ref}`);
    }
    throw new NotFoundError('container', ref);
  }

  private details(c: FakeContainer): ContainerDetails {
    const argv = [...c.config.entrypoint, ...c.config.cmd];
    return {
      id: c.id,
      name: `/${c.name}`,
      image: c.config.image,
      imageId: c.config.imageId,
      command: argv.join(' '),
      created: c.created,
      state: c.state,
      labels: c.config.labels,
      path: argv[0] ?? '',
      args: argv.slice(1),
      config: c.config,
      vm: { name: `${c.name}-${c.id.slice(0, 12)}`, moref: `vm-${c.id.slice(0, 6)}` },
      hostConfig: c.hostConfig,
      restartCount: c.restartCount,
    };
  }
}

/** A whole fake port layer; `images` is the concrete fake so tests can seed it. */
export function createFakePortLayer(
  options: FakeImageServiceOptions = {},
): PortLayer & { images: FakeImageService; containers: FakeContainerService } {
  const images = new FakeImageService(options);
  return { images, system: new FakeSystemService(images), containers: new FakeContainerService(images) };
}
