/**
 * The image store: pulls images into read-only ext4 layer disks on the image datastore and
 * keeps their metadata beside them, so that vSphere stays the source of truth and a
 * restarted VCH (a new store object on the same datastore) finds every image again.
 *
 * A pull resolves the reference, downloads the missing layers three at a time into local
 * scratch, and builds each layer's disk while later layers still download (unpacks one at a
 * time, on tmpfs when there is room; mke2fs runs one at a time beside them: the box has two
 * cores). A disk is uploaded under images/tmp/ and moved into images/layers/<diff-hex>/ only
 * when whole, and the index is rewritten last, so an interrupted pull leaves nothing a later
 * pull mistakes for complete.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadBlobToFile } from '../registry/blob-file';
import type { RegistryClient, ResolvedImage } from '../registry/client';
import { mapWithConcurrency } from '../registry/concurrency';
import {
  type Descriptor,
  type HistoryEntry,
  type ImageConfig,
  type Platform,
  parseImageConfig,
} from '../registry/manifest-types';
import { familiarReference, type ImageReference, parseReference, repositoryName } from '../registry/reference';
import type { RegistryCredentials } from '../registry/registry-auth-header';
import type { RegistryRepository } from '../registry/repository';
import { makeLayerDisk } from './build-layer-disk';
import type { ImageDatastore } from './image-datastore';
import { canonicalTag, ImageIndex, ImageInUseError, type StoredImage, type StoredLayer } from './image-index';
import { type LayerMeta, parseLayerMeta } from './layer-meta';
import { digestHex, ImageStoreLayout, LAYER_DESCRIPTOR, LAYER_EXTENT, LAYER_META } from './layout';
import { type LayerStatus, type PullEvent, shortLayerId, throttleProgress } from './progress';
import { type StagingLease, stageLayerPreferringTmpfs } from './tmpfs-staging';
import { flatVmdkDescriptor } from './vmdk-descriptor';

export interface ImageStoreOptions {
  readonly datastore: ImageDatastore;
  /** The VCH's folder on the image datastore; the store lives in its `images/`. */
  readonly vchFolder: string;
  readonly registry: RegistryClient;
  /** Local scratch for downloads and disk builds (default: the OS temp dir). */
  readonly scratchDir?: string;
  /** Parallel layer downloads per pull; Docker's default is 3. */
  readonly downloadConcurrency?: number;
}

export interface PullOptions {
  readonly credentials?: RegistryCredentials;
  readonly platform?: Platform;
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: PullEvent) => void;
}

export interface ImageLayerSummary {
  readonly diffId: string;
  readonly digest: string;
  readonly size: number;
  /** `[ds] vch/images/layers/<hex>/layer.vmdk`: what a container VM attaches, bottom layer first. */
  readonly disk: string;
}

export interface ImageSummary {
  readonly id: string;
  /** Familiar names, `busybox:latest`. */
  readonly repoTags: readonly string[];
  /** Familiar, `busybox@sha256:…`. */
  readonly repoDigests: readonly string[];
  readonly created?: string;
  /** Uncompressed size of all layers, bytes (Docker's Size). */
  readonly size: number;
  readonly architecture: string;
  readonly os: string;
  readonly manifestDigest: string;
  readonly layers: readonly ImageLayerSummary[];
}

export interface PullResult {
  readonly image: ImageSummary;
  readonly outcome: 'downloaded' | 'up-to-date';
}

export interface HistoryItem {
  /** The image ID on the top entry, `<missing>` below it (as Docker shows for pulled images). */
  readonly id: string;
  /** Unix seconds. */
  readonly created: number;
  readonly createdBy: string;
  readonly tags: readonly string[];
  readonly size: number;
  readonly comment: string;
}

export interface DeleteResult {
  readonly untagged: readonly string[];
  /** The image ID (when deleted) and the layer diffIds whose disks went with it. */
  readonly deleted: readonly string[];
}

interface PendingLayer {
  readonly descriptor: Descriptor;
  readonly diffId: string;
}

function familiar(canonical: string): string {
  return familiarReference(parseReference(canonical));
}

export class ImageStore {
  private readonly layout: ImageStoreLayout;
  private readonly ds: ImageDatastore;
  private readonly scratchDir: string;
  private readonly concurrency: number;
  private readonly configs = new Map<string, ImageConfig>();
  /** Layers being made by some pull in this process, so two pulls share one build. */
  private readonly inflight = new Map<string, Promise<LayerMeta>>();
  /**
   * Layers a running pull has found or is making, counted: a delete running at the same
   * time must not remove a disk the pull is about to name in the index.
   */
  private readonly claims = new Map<string, number>();
  /**
   * A disk build is two CPU-bound steps, each run one at a time (the box has two cores): the
   * unpack (this process) and mke2fs + debugfs (child processes). Separate queues so one
   * layer's unpack overlaps the previous layer's mke2fs, keeping both cores busy.
   */
  private unpackQueue: Promise<unknown> = Promise.resolve();
  private diskQueue: Promise<unknown> = Promise.resolve();
  /** Index changes run one at a time: each rewrites the whole document. */
  private indexQueue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly options: ImageStoreOptions,
    private index: ImageIndex,
  ) {
    this.layout = new ImageStoreLayout(options.vchFolder);
    this.ds = options.datastore;
    this.scratchDir = options.scratchDir ?? tmpdir();
    this.concurrency = options.downloadConcurrency ?? 3;
  }

  /**
   * Opens the store on its datastore: reads the index and clears images/tmp (layers an
   * interrupted pull was still building; a later pull makes them again).
   */
  static async open(options: ImageStoreOptions): Promise<ImageStore> {
    const layout = new ImageStoreLayout(options.vchFolder);
    await options.datastore.makeDirectory(layout.root);
    await options.datastore.delete(layout.tmpDir);
    const text = await options.datastore.readFile(layout.index);
    return new ImageStore(options, text ? ImageIndex.parse(text.toString('utf8')) : new ImageIndex());
  }

  /** Re-reads the index from the datastore (another VCH process may have changed it). */
  async refresh(): Promise<void> {
    await this.withIndex(async () => {
      const text = await this.ds.readFile(this.layout.index);
      this.index = text ? ImageIndex.parse(text.toString('utf8')) : new ImageIndex();
      return false;
    });
  }

  listImages(): ImageSummary[] {
    return this.index.list().map((i) => this.summarize(i));
  }

  /** By reference, full ID, or unique ID prefix; throws ImageNotFoundError ("No such image: …"). */
  getImage(refOrId: string): ImageSummary {
    return this.summarize(this.index.lookup(refOrId));
  }

  async getConfig(refOrId: string): Promise<ImageConfig> {
    const image = this.index.lookup(refOrId);
    const cached = this.configs.get(image.id);
    if (cached) return cached;
    const bytes = await this.ds.readFile(this.layout.config(image.id));
    if (!bytes) throw new Error(`image ${image.id}: config missing from the datastore`);
    const config = parseImageConfig(bytes);
    this.configs.set(image.id, config);
    return config;
  }

  /** `docker history`: newest first, each entry with the size of the layer it made. */
  async history(refOrId: string): Promise<HistoryItem[]> {
    const image = this.index.lookup(refOrId);
    const config = await this.getConfig(image.id);
    // An image without history still has layers: one anonymous entry each.
    const entries: readonly HistoryEntry[] = config.history ?? image.layers.map(() => ({}));
    let layer = 0;
    const items = entries.map((h) => ({
      created: h.created ? Math.floor(Date.parse(h.created) / 1000) : 0,
      createdBy: h.created_by ?? '',
      comment: h.comment ?? '',
      size: h.empty_layer === true ? 0 : (image.layers[layer++]?.tarSize ?? 0),
    }));
    const tags = this.index.tagsOf(image.id).map(familiar);
    return items
      .reverse()
      .map((item, i) => ({ ...item, id: i === 0 ? image.id : '<missing>', tags: i === 0 ? tags : [] }));
  }

  /** `docker tag source target`. */
  async tag(source: string, target: string): Promise<void> {
    const image = this.index.lookup(source);
    await this.withIndex(async (index) => {
      index.tag(target, image.id);
      return true;
    });
  }

  /** Removes one tag (the image stays, even untagged). */
  async untag(ref: string): Promise<void> {
    await this.withIndex(async (index) => {
      index.untag(ref);
      return true;
    });
  }

  /**
   * `docker rmi`: by tag, removes that tag and deletes the image only if it was the last;
   * by ID, deletes the image and all its tags (several tags need `force`). Layer disks no
   * other image uses are deleted with it; shared ones stay.
   */
  async deleteImage(refOrId: string, o: { force?: boolean } = {}): Promise<DeleteResult> {
    let orphans: string[] = [];
    let deletedId: string | undefined;
    let manifestGone: string | undefined;
    const untagged: string[] = [];
    await this.withIndex(async (index) => {
      const byTag = !/^(sha256:)?[a-f0-9]{64}$/.test(refOrId) ? index.resolveTag(refOrId) : undefined;
      const image = byTag ? index.get(byTag)! : index.lookup(refOrId);
      const tags = index.tagsOf(image.id);
      if (byTag) {
        index.untag(refOrId);
        untagged.push(familiar(canonicalTag(refOrId)!));
        if (tags.length > 1) return true;
      } else if (tags.length > 1 && !o.force) {
        throw new ImageInUseError(image.id, tags);
      } else {
        untagged.push(...tags.map(familiar));
      }
      untagged.push(...image.repoDigests.map(familiar));
      orphans = index.remove(image.id);
      deletedId = image.id;
      if (!index.list().some((i) => i.manifestDigest === image.manifestDigest)) manifestGone = image.manifestDigest;
      return true;
    });
    // The index no longer names them: deleting now can only leave unreferenced files behind.
    if (deletedId) {
      this.configs.delete(deletedId);
      await this.ds.delete(this.layout.config(deletedId));
    }
    if (manifestGone) await this.ds.delete(this.layout.manifest(manifestGone));
    const freed = orphans.filter((d) => !this.claims.has(d));
    for (const diffId of freed) await this.ds.delete(this.layout.layerDir(diffId));
    return { untagged, deleted: deletedId ? [deletedId, ...freed] : [] };
  }

  /** Datastore paths of an image's layer descriptors, bottom layer first. */
  layerDisks(refOrId: string): string[] {
    return this.index.lookup(refOrId).layers.map((l) => this.ds.datastorePath(this.layout.layerDescriptor(l.diffId)));
  }

  /** `docker pull`; see the module comment. */
  async pull(ref: string | ImageReference, o: PullOptions = {}): Promise<PullResult> {
    const emit = o.onEvent ?? (() => {});
    const reference = typeof ref === 'string' ? parseReference(ref) : ref;
    const resolved = await this.options.registry.resolveImage(reference, {
      ...(o.credentials ? { credentials: o.credentials } : {}),
      ...(o.platform ? { platform: o.platform } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    emit({ type: 'pulling', id: reference.digest ?? reference.tag ?? 'latest', repository: reference.path });
    const diffIds = resolved.config.rootfs.diff_ids;
    const known = this.index.get(resolved.configDescriptor.digest);

    for (const d of diffIds) this.claims.set(d, (this.claims.get(d) ?? 0) + 1);
    try {
      return await this.pullResolved(resolved, reference, known, o);
    } finally {
      for (const d of diffIds) {
        const n = (this.claims.get(d) ?? 1) - 1;
        if (n > 0) this.claims.set(d, n);
        else this.claims.delete(d);
      }
    }
  }

  private async pullResolved(
    resolved: ResolvedImage,
    reference: ImageReference,
    known: StoredImage | undefined,
    o: PullOptions,
  ): Promise<PullResult> {
    const emit = o.onEvent ?? (() => {});
    const id = resolved.configDescriptor.digest;
    const diffIds = resolved.config.rootfs.diff_ids;
    const tagKey = canonicalTag(reference);
    const alreadyTagged = tagKey === undefined || this.index.resolveTag(tagKey) === id;
    let layers: StoredLayer[];
    if (known) {
      layers = [...known.layers];
    } else {
      const metas = await this.ensureLayers(resolved.repository, resolved.layers, diffIds, emit, o.signal);
      layers = resolved.layers.map((d, i) => ({
        digest: d.digest,
        diffId: diffIds[i]!,
        mediaType: d.mediaType,
        size: d.size,
        tarSize: metas.get(diffIds[i]!)!.tarSize,
      }));
      // Content-addressed, written before the index names them.
      await this.ds.writeFile(this.layout.manifest(resolved.manifestDigest), resolved.manifestBytes, o.signal);
      await this.ds.writeFile(this.layout.config(id), resolved.configBytes, o.signal);
    }
    o.signal?.throwIfAborted();
    const repoDigest = `${repositoryName(reference)}@${resolved.manifestDigest}`;
    const image: StoredImage = {
      id,
      manifestDigest: resolved.manifestDigest,
      manifestMediaType: resolved.manifestMediaType,
      repoDigests: [repoDigest],
      layers,
      ...(resolved.config.created ? { created: resolved.config.created } : {}),
      architecture: resolved.config.architecture,
      os: resolved.config.os,
    };
    await this.withIndex(async (index) => {
      index.put(image);
      if (tagKey !== undefined) index.tag(tagKey, id);
      return true;
    });
    this.configs.set(id, resolved.config);
    const outcome = known && alreadyTagged ? 'up-to-date' : 'downloaded';
    emit({ type: 'digest', digest: resolved.manifestDigest });
    emit({ type: 'status', outcome, reference: familiarReference(reference) });
    return { image: this.getImage(id), outcome };
  }

  /**
   * Makes sure every layer's disk exists: reuses finished ones (on the datastore or being
   * built by another pull here), downloads the rest `concurrency` at a time and queues each
   * for building as soon as its download ends.
   */
  private async ensureLayers(
    repository: RegistryRepository,
    descriptors: readonly Descriptor[],
    diffIds: readonly string[],
    emit: (e: PullEvent) => void,
    signal: AbortSignal | undefined,
  ): Promise<Map<string, LayerMeta>> {
    const layerEvent = (d: Descriptor, status: LayerStatus, progress?: { current: number; total: number }): void =>
      emit({ type: 'layer', id: shortLayerId(d.digest), status, ...(progress ? { progress } : {}) });
    const metas = new Map<string, LayerMeta>();
    const waits: Promise<void>[] = [];
    const pending: PendingLayer[] = [];
    const resolvers = new Map<string, { resolve: (m: LayerMeta) => void; reject: (e: unknown) => void }>();
    const work = await mkdtemp(join(this.scratchDir, 'vch-pull-'));
    const builds: Promise<void>[] = [];
    try {
      const seen = new Set<string>();
      for (const [i, descriptor] of descriptors.entries()) {
        const diffId = diffIds[i]!;
        if (seen.has(diffId)) continue;
        seen.add(diffId);
        const existing = await this.readLayerMeta(diffId, signal);
        if (existing) {
          metas.set(diffId, existing);
          layerEvent(descriptor, 'Already exists');
          continue;
        }
        const other = this.inflight.get(diffId);
        if (other) {
          layerEvent(descriptor, 'Waiting');
          const wait = other.then((m) => void metas.set(diffId, m));
          wait.catch(() => {}); // awaited below, unless an earlier failure ends the pull first
          waits.push(wait);
          continue;
        }
        // Claimed at once (no await between the check and the set): a concurrent pull waits on us.
        const promise = new Promise<LayerMeta>((resolve, reject) => resolvers.set(diffId, { resolve, reject }));
        promise.catch(() => {});
        this.inflight.set(diffId, promise);
        layerEvent(descriptor, 'Pulling fs layer');
        pending.push({ descriptor, diffId });
      }
      const downloads = mapWithConcurrency(pending, this.concurrency, async (p) => {
        const blob = join(work, `${digestHex(p.descriptor.digest)}.blob`);
        let verifying = false;
        const progress = throttleProgress((current, total) =>
          layerEvent(p.descriptor, 'Downloading', { current, total }),
        );
        await downloadBlobToFile(repository, p.descriptor, blob, {
          onProgress: ({ current, total }) => {
            progress(current, total);
            if (current >= total && !verifying) {
              verifying = true;
              layerEvent(p.descriptor, 'Verifying Checksum');
            }
          },
          ...(signal ? { signal } : {}),
        });
        layerEvent(p.descriptor, 'Download complete');
        const build = this.buildAndStore(p, blob, work, layerEvent, signal);
        const settled = build.then(
          (meta) => {
            metas.set(p.diffId, meta);
            resolvers.get(p.diffId)!.resolve(meta);
          },
          (error: unknown) => {
            resolvers.get(p.diffId)!.reject(error);
            throw error;
          },
        );
        // Observed below with allSettled; this only keeps Node from calling it unhandled meanwhile.
        settled.catch(() => {});
        builds.push(settled);
      });
      // Every download and build settles before the scratch folder goes.
      let downloadError: { error: unknown } | undefined;
      await downloads.catch((error: unknown) => {
        downloadError = { error };
      });
      const results = await Promise.allSettled(builds);
      if (downloadError) throw downloadError.error;
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      await Promise.all(waits);
      return metas;
    } catch (error) {
      for (const r of resolvers.values()) r.reject(error);
      throw error;
    } finally {
      for (const diffId of resolvers.keys()) this.inflight.delete(diffId);
      await rm(work, { recursive: true, force: true });
    }
  }

  private enqueue<T>(queue: 'unpack' | 'disk', fn: () => Promise<T>): Promise<T> {
    const run = (queue === 'unpack' ? this.unpackQueue : this.diskQueue).then(fn, fn);
    if (queue === 'unpack') this.unpackQueue = run.catch(() => {});
    else this.diskQueue = run.catch(() => {});
    return run;
  }

  /** Builds one layer's disk, uploads it under images/tmp and moves it into place. */
  private async buildAndStore(
    p: PendingLayer,
    blob: string,
    work: string,
    layerEvent: (d: Descriptor, s: LayerStatus, progress?: { current: number; total: number }) => void,
    signal: AbortSignal | undefined,
  ): Promise<LayerMeta> {
    const hex = digestHex(p.diffId);
    const total = p.descriptor.size;
    const progress = throttleProgress((current) => layerEvent(p.descriptor, 'Extracting', { current, total }));
    const workDir = join(work, `build-${hex}`);
    let lease: StagingLease | undefined;
    let released: Promise<void> | undefined;
    try {
      const buildOptions = {
        workDir,
        expectedDiffId: p.diffId,
        onExtractProgress: (bytes: number) => progress(bytes, total),
        ...(signal ? { signal } : {}),
      };
      lease = await this.enqueue('unpack', () => {
        signal?.throwIfAborted();
        return stageLayerPreferringTmpfs(blob, buildOptions, total);
      });
      const staged = lease.staged;
      const disk = await this.enqueue('disk', () => {
        signal?.throwIfAborted();
        return makeLayerDisk(staged, buildOptions);
      });
      // mke2fs has read the tree: free it (memory, when on tmpfs) while the disk uploads.
      released = lease.release();
      released.catch(() => {}); // awaited in finally; this only keeps Node from calling it unhandled meanwhile
      await rm(blob, { force: true });
      const meta: LayerMeta = {
        version: 1,
        diffId: p.diffId,
        digest: p.descriptor.digest,
        mediaType: p.descriptor.mediaType,
        size: p.descriptor.size,
        tarSize: disk.stats.tarBytes,
        capacityBytes: disk.capacityBytes,
        builtAt: new Date().toISOString(),
      };
      const tmp = this.layout.tmp(`${hex}-${randomBytes(4).toString('hex')}`);
      await this.ds.makeDirectory(tmp);
      await this.ds.uploadFile(disk.imagePath, `${tmp}/${LAYER_EXTENT}`, signal);
      const descriptor = flatVmdkDescriptor({
        capacityBytes: disk.capacityBytes,
        extentFileName: LAYER_EXTENT,
        seed: p.diffId,
      });
      await this.ds.writeFile(`${tmp}/${LAYER_DESCRIPTOR}`, Buffer.from(descriptor), signal);
      await this.ds.writeFile(`${tmp}/${LAYER_META}`, Buffer.from(`${JSON.stringify(meta, null, 2)}\n`), signal);
      signal?.throwIfAborted();
      await this.ds.makeDirectory(this.layout.layersDir);
      // The commit point for the layer: the folder appears whole or not at all.
      if (!(await this.ds.move(tmp, this.layout.layerDir(p.diffId)))) await this.ds.delete(tmp);
      layerEvent(p.descriptor, 'Pull complete');
      return meta;
    } finally {
      await (released ?? lease?.release());
      await rm(workDir, { recursive: true, force: true });
    }
  }

  private async readLayerMeta(diffId: string, signal?: AbortSignal): Promise<LayerMeta | undefined> {
    const bytes = await this.ds.readFile(this.layout.layerMeta(diffId), signal);
    return bytes ? parseLayerMeta(bytes, diffId) : undefined;
  }

  /** Runs `fn` on the index alone; when it returns true, writes the index (upload + atomic move). */
  private async withIndex(fn: (index: ImageIndex) => Promise<boolean>): Promise<void> {
    const run = this.indexQueue.then(async () => {
      // Work on a copy: a failed write must not leave memory ahead of the datastore.
      const draft = new ImageIndex(this.index.toDocument());
      if (!(await fn(draft))) return;
      const body = Buffer.from(`${JSON.stringify(draft.toDocument(), null, 2)}\n`);
      const tmp = this.layout.tmp(`index-${randomBytes(4).toString('hex')}.json`);
      await this.ds.makeDirectory(this.layout.tmpDir);
      await this.ds.writeFile(tmp, body);
      await this.ds.move(tmp, this.layout.index, true);
      this.index = draft;
    });
    this.indexQueue = run.catch(() => {});
    await run;
  }

  private summarize(image: StoredImage): ImageSummary {
    return {
      id: image.id,
      repoTags: this.index.tagsOf(image.id).map(familiar),
      repoDigests: image.repoDigests.map(familiar),
      ...(image.created ? { created: image.created } : {}),
      size: image.layers.reduce((n, l) => n + l.tarSize, 0),
      architecture: image.architecture,
      os: image.os,
      manifestDigest: image.manifestDigest,
      layers: image.layers.map((l) => ({
        diffId: l.diffId,
        digest: l.digest,
        size: l.tarSize,
        disk: this.ds.datastorePath(this.layout.layerDescriptor(l.diffId)),
      })),
    };
  }
}
