/**
 * The manifest formats the puller understands (Docker schema2, OCI image manifest, Docker
 * manifest list, OCI index), their media types, and a validating parser so that nothing
 * downstream handles unchecked JSON. Pure: no I/O.
 */

export const MediaTypes = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
} as const;

/** What the client sends in `Accept` for manifests, most preferred first. */
export const MANIFEST_ACCEPT = [
  MediaTypes.ociIndex,
  MediaTypes.dockerManifestList,
  MediaTypes.ociManifest,
  MediaTypes.dockerManifest,
] as const;

export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
  readonly 'os.version'?: string;
}

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly urls?: readonly string[];
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface PlatformDescriptor extends Descriptor {
  readonly platform?: Platform;
}

/** A single-platform manifest (Docker schema2 or OCI). */
export interface ImageManifest {
  readonly kind: 'manifest';
  readonly schemaVersion: 2;
  readonly mediaType: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
}

/** A manifest list (Docker) or image index (OCI). */
export interface ImageIndex {
  readonly kind: 'index';
  readonly schemaVersion: 2;
  readonly mediaType: string;
  readonly manifests: readonly PlatformDescriptor[];
}

export type AnyManifest = ImageManifest | ImageIndex;

/** The parts of an image config (`application/vnd.docker.container.image.v1+json`) we use. */
export interface ImageConfig {
  readonly architecture: string;
  readonly os: string;
  readonly variant?: string;
  readonly created?: string;
  readonly author?: string;
  readonly config?: ContainerConfig;
  readonly rootfs: { readonly type: string; readonly diff_ids: readonly string[] };
  readonly history?: readonly HistoryEntry[];
}

export interface ContainerConfig {
  readonly User?: string;
  readonly Env?: readonly string[];
  readonly Cmd?: readonly string[] | null;
  readonly Entrypoint?: readonly string[] | null;
  readonly WorkingDir?: string;
  readonly ExposedPorts?: Readonly<Record<string, Record<string, never>>>;
  readonly Volumes?: Readonly<Record<string, Record<string, never>>>;
  readonly Labels?: Readonly<Record<string, string>> | null;
  readonly StopSignal?: string;
}

export interface HistoryEntry {
  readonly created?: string;
  readonly created_by?: string;
  readonly comment?: string;
  readonly empty_layer?: boolean;
}

export class ManifestFormatError extends Error {
  constructor(reason: string) {
    super(`invalid manifest: ${reason}`);
    this.name = 'ManifestFormatError';
  }
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function parseDescriptor(v: unknown, where: string): PlatformDescriptor {
  if (!isObject(v)) throw new ManifestFormatError(`${where} is not an object`);
  const { mediaType, digest, size, urls, annotations, platform } = v;
  if (typeof mediaType !== 'string') throw new ManifestFormatError(`${where}.mediaType missing`);
  if (typeof digest !== 'string' || !/^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(digest)) {
    throw new ManifestFormatError(`${where}.digest invalid`);
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new ManifestFormatError(`${where}.size invalid`);
  }
  const out: {
    mediaType: string;
    digest: string;
    size: number;
    urls?: string[];
    annotations?: Record<string, string>;
    platform?: Platform;
  } = { mediaType, digest, size };
  if (Array.isArray(urls)) out.urls = urls.filter((u): u is string => typeof u === 'string');
  if (isObject(annotations)) out.annotations = annotations as Record<string, string>;
  if (isObject(platform)) {
    if (typeof platform.os !== 'string' || typeof platform.architecture !== 'string') {
      throw new ManifestFormatError(`${where}.platform incomplete`);
    }
    out.platform = {
      os: platform.os,
      architecture: platform.architecture,
      ...(typeof platform.variant === 'string' ? { variant: platform.variant } : {}),
      ...(typeof platform['os.version'] === 'string' ? { 'os.version': platform['os.version'] } : {}),
    };
  }
  return out;
}

/**
 * Parses manifest bytes. The media type comes from the body's `mediaType` when present
 * (OCI makes it optional), else from the response's Content-Type.
 */
export function parseManifest(bytes: Buffer, contentType?: string): AnyManifest {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new ManifestFormatError('not JSON');
  }
  if (!isObject(json)) throw new ManifestFormatError('not an object');
  if (json.schemaVersion !== 2) {
    throw new ManifestFormatError(
      `schemaVersion ${String(json.schemaVersion)} is not supported (schema 1 is deprecated)`,
    );
  }
  const declared = typeof json.mediaType === 'string' ? json.mediaType : contentType?.split(';')[0]?.trim();
  const isIndex =
    declared === MediaTypes.dockerManifestList ||
    declared === MediaTypes.ociIndex ||
    (declared === undefined && Array.isArray(json.manifests));
  if (isIndex) {
    if (!Array.isArray(json.manifests)) throw new ManifestFormatError('index without manifests');
    return {
      kind: 'index',
      schemaVersion: 2,
      mediaType: declared ?? MediaTypes.ociIndex,
      manifests: json.manifests.map((m, i) => parseDescriptor(m, `manifests[${i}]`)),
    };
  }
  const mediaType = declared ?? MediaTypes.ociManifest;
  if (mediaType !== MediaTypes.dockerManifest && mediaType !== MediaTypes.ociManifest) {
    throw new ManifestFormatError(`unsupported media type ${mediaType}`);
  }
  if (!Array.isArray(json.layers)) throw new ManifestFormatError('manifest without layers');
  return {
    kind: 'manifest',
    schemaVersion: 2,
    mediaType,
    config: parseDescriptor(json.config, 'config'),
    layers: json.layers.map((l, i) => parseDescriptor(l, `layers[${i}]`)),
  };
}

/** Parses an image config blob; checks only what the puller relies on. */
export function parseImageConfig(bytes: Buffer): ImageConfig {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new ManifestFormatError('image config is not JSON');
  }
  if (!isObject(json)) throw new ManifestFormatError('image config is not an object');
  const rootfs = json.rootfs;
  if (!isObject(rootfs) || !Array.isArray(rootfs.diff_ids) || !rootfs.diff_ids.every((d) => typeof d === 'string')) {
    throw new ManifestFormatError('image config without rootfs.diff_ids');
  }
  if (typeof json.os !== 'string' || typeof json.architecture !== 'string') {
    throw new ManifestFormatError('image config without os/architecture');
  }
  return json as unknown as ImageConfig;
}
