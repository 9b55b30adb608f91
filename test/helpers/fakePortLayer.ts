/**
 * An in-memory port layer: images and system facts kept in maps, with a fake "registry" of
 * images that can be pulled. It lets the personality's HTTP behaviour be tested — by unit
 * tests and by the real docker CLI — without vSphere or a registry, and it follows the
 * contract in `portlayer/api.ts` the way the real image store must (messages, conflicts,
 * untag-before-delete), so it doubles as an executable reading of that contract.
 */

import { createHash } from 'node:crypto';
import {
  ConflictError,
  type ImageDeleteItem,
  type ImageDetails,
  type ImageHistoryEntry,
  type ImagePruneOptions,
  type ImagePruneResult,
  type ImageRemoveOptions,
  type ImageRunConfig,
  type ImageService,
  type ImageSummary,
  NotFoundError,
  type PortLayer,
  type PullOptions,
  type PullResult,
  type SystemInfo,
  type SystemService,
  type SystemVersion,
  UnavailableError,
} from '../../src/portlayer/api';
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

/** A whole fake port layer; `images` is the concrete fake so tests can seed it. */
export function createFakePortLayer(options: FakeImageServiceOptions = {}): PortLayer & { images: FakeImageService } {
  const images = new FakeImageService(options);
  return { images, system: new FakeSystemService(images) };
}
