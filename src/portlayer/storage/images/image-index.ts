/**
 * The image store's index: which images exist (by ID, the config digest), what layers each
 * stands on, and which repo:tag names point at which image. It is one small JSON document
 * on the datastore, rewritten whole (upload + atomic move) on each change, so a restarted
 * VCH reads one consistent state. Reference counting of layer disks is derived from it:
 * a layer is in use while any image lists it. Pure.
 */
import { formatReference, type ImageReference, parseReference } from '../registry/reference';

export interface StoredLayer {
  /** Blob digest in the registry (compressed): what progress and `docker pull` show. */
  readonly digest: string;
  /** Digest of the uncompressed tar: keys the layer disk. */
  readonly diffId: string;
  readonly mediaType: string;
  /** Compressed size. */
  readonly size: number;
  /** Uncompressed tar size (what `docker history` shows). */
  readonly tarSize: number;
}

export interface StoredImage {
  /** `sha256:` of the config: the image ID. */
  readonly id: string;
  readonly manifestDigest: string;
  readonly manifestMediaType: string;
  /** `repo@sha256:manifest` names it was pulled by (Docker's RepoDigests). */
  readonly repoDigests: readonly string[];
  readonly layers: readonly StoredLayer[];
  readonly created?: string;
  readonly architecture: string;
  readonly os: string;
}

export interface ImageIndexDocument {
  readonly version: 1;
  readonly images: Readonly<Record<string, StoredImage>>;
  /** Canonical `domain/path:tag` → image ID. */
  readonly refs: Readonly<Record<string, string>>;
}

export class ImageNotFoundError extends Error {
  override readonly name = 'ImageNotFoundError';
  constructor(readonly reference: string) {
    // The text Docker clients match on.
    super(`No such image: ${reference}`);
  }
}

export class AmbiguousImageError extends Error {
  override readonly name = 'AmbiguousImageError';
  constructor(readonly prefix: string) {
    super(`image ID prefix ${prefix} is ambiguous`);
  }
}

export class ImageInUseError extends Error {
  override readonly name = 'ImageInUseError';
  constructor(
    readonly id: string,
    readonly tags: readonly string[],
  ) {
    super(
      `conflict: unable to delete ${id.slice(7, 19)} (must be forced) - image is referenced in multiple repositories`,
    );
  }
}

/** A tag reference in the canonical form the index keys by; undefined for digest-only refs. */
export function canonicalTag(ref: ImageReference | string): string | undefined {
  const r = typeof ref === 'string' ? parseReference(ref) : ref;
  if (r.tag === undefined) return undefined;
  return formatReference({ domain: r.domain, path: r.path, tag: r.tag });
}

function tryParse(text: string): ImageReference | undefined {
  try {
    return parseReference(text);
  } catch {
    return undefined;
  }
}

export class ImageIndex {
  private images: Record<string, StoredImage>;
  private refs: Record<string, string>;

  constructor(doc?: ImageIndexDocument) {
    this.images = { ...(doc?.images ?? {}) };
    this.refs = { ...(doc?.refs ?? {}) };
  }

  static parse(text: string): ImageIndex {
    const doc = JSON.parse(text) as Partial<ImageIndexDocument>;
    if (doc.version !== 1 || typeof doc.images !== 'object' || typeof doc.refs !== 'object') {
      throw new Error('image index: unknown format');
    }
    return new ImageIndex(doc as ImageIndexDocument);
  }

  toDocument(): ImageIndexDocument {
    return { version: 1, images: { ...this.images }, refs: { ...this.refs } };
  }

  list(): StoredImage[] {
    return Object.values(this.images);
  }

  has(id: string): boolean {
    return id in this.images;
  }

  get(id: string): StoredImage | undefined {
    return this.images[id];
  }

  /** Canonical tags pointing at `id`, sorted. */
  tagsOf(id: string): string[] {
    return Object.entries(this.refs)
      .filter(([, v]) => v === id)
      .map(([k]) => k)
      .sort();
  }

  /**
   * Finds an image as Docker does: full ID (`sha256:…` or 64 hex), a reference by tag or
   * digest (`busybox`, `busybox:1`, `busybox@sha256:…`), or a unique ID prefix.
   */
  lookup(refOrId: string): StoredImage {
    const text = refOrId.trim();
    const full = /^(sha256:)?([a-f0-9]{64})$/.exec(text);
    if (full) {
      const image = this.images[`sha256:${full[2]}`];
      if (image) return image;
    }
    const ref = tryParse(text);
    if (ref) {
      if (ref.digest !== undefined) {
        const repoDigest = formatReference({ domain: ref.domain, path: ref.path, digest: ref.digest });
        const found = this.list().find((i) => i.repoDigests.includes(repoDigest));
        if (found) return found;
      } else {
        const id = this.refs[canonicalTag(ref)!];
        if (id && this.images[id]) return this.images[id]!;
      }
    }
    const prefix = /^(sha256:)?([a-f0-9]{1,63})$/.exec(text);
    if (prefix) {
      const matches = Object.keys(this.images).filter((id) => id.startsWith(`sha256:${prefix[2]}`));
      if (matches.length === 1) return this.images[matches[0]!]!;
      if (matches.length > 1) throw new AmbiguousImageError(text);
    }
    throw new ImageNotFoundError(text);
  }

  /** The image ID a tag reference names, if it is in the index. */
  resolveTag(ref: string): string | undefined {
    const parsed = tryParse(ref);
    const key = parsed ? canonicalTag(parsed) : undefined;
    return key === undefined ? undefined : this.refs[key];
  }

  /** Adds or replaces an image record, merging repo digests with what was known. */
  put(image: StoredImage): void {
    const before = this.images[image.id];
    const repoDigests = [...new Set([...(before?.repoDigests ?? []), ...image.repoDigests])].sort();
    this.images[image.id] = { ...image, repoDigests };
  }

  /** Points `ref` at `id`; returns the image it pointed at before (if another). */
  tag(ref: string, id: string): string | undefined {
    if (!this.images[id]) throw new ImageNotFoundError(id);
    const key = canonicalTag(ref);
    if (key === undefined) throw new Error(`cannot tag with a digest reference: ${ref}`);
    const previous = this.refs[key];
    this.refs[key] = id;
    return previous !== id ? previous : undefined;
  }

  /** Removes a tag; returns the image ID it named. */
  untag(ref: string): string {
    const key = canonicalTag(ref);
    const id = key === undefined ? undefined : this.refs[key];
    if (key === undefined || id === undefined) throw new ImageNotFoundError(ref);
    delete this.refs[key];
    return id;
  }

  /** diffIds still used by some image. */
  layersInUse(): Set<string> {
    return new Set(this.list().flatMap((i) => i.layers.map((l) => l.diffId)));
  }

  /**
   * Removes an image and every tag naming it. Returns the diffIds no image uses any more
   * (their disks may now be deleted).
   */
  remove(id: string): string[] {
    const image = this.images[id];
    if (!image) throw new ImageNotFoundError(id);
    for (const tag of this.tagsOf(id)) delete this.refs[tag];
    delete this.images[id];
    const inUse = this.layersInUse();
    return [...new Set(image.layers.map((l) => l.diffId))].filter((d) => !inUse.has(d));
  }
}
