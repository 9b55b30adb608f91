/**
 * Builds the test images (see test-image-specs.ts) as registry blobs — layers, configs,
 * manifests, indexes — cached by a hash of their inputs under `<repo>/.cache/test-images/`.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type Descriptor, MediaTypes, type Platform } from '../../portlayer/storage/registry/manifest-types';
import { extractBusybox, locateBusyboxDeb } from './busybox-deb';
import { type BuiltLayer, buildLayer, LAYER_MTIME, sha256 } from './layer-tar';
import { busyboxLayerEntries, TEST_IMAGE_SPECS, type TestImageName, type TestImageSpec } from './test-image-specs';

/** Bump when the build changes in a way the hashed sources would not show. */
const BUILDER_VERSION = 1;
const CREATED = LAYER_MTIME.toISOString();

export interface BuiltTestImage {
  readonly name: TestImageName;
  readonly repository: string;
  readonly tags: readonly string[];
  readonly indexTag: string;
  readonly manifest: Descriptor;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  /** The manifest list / OCI index under indexTag: [arm64 placeholder, this image]. */
  readonly index: Descriptor;
  /** The arm64 placeholder manifest the index also names (pushed by digest). */
  readonly placeholder: PlaceholderImage;
}

export interface PlaceholderImage {
  readonly manifest: Descriptor;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
}

export interface BuiltTestImages {
  /** Folder of the cached build; blobs are in `blobs/sha256/<hex>`. */
  readonly dir: string;
  readonly inputHash: string;
  readonly busyboxVersion: string;
  readonly images: Readonly<Record<TestImageName, BuiltTestImage>>;
  /** An index in library/busybox with only an arm64 entry, for "no linux/amd64" errors. */
  readonly arm64OnlyIndex: Descriptor;
  /** true when this call built them, false when they came from the cache. */
  readonly built: boolean;
}

const ARM64: Platform = { os: 'linux', architecture: 'arm64', variant: 'v8' };
const AMD64: Platform = { os: 'linux', architecture: 'amd64' };

/** The repository root (where package.json is), for the default cache folder. */
export function repoRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
  return dir;
}

export function defaultCacheDir(): string {
  return join(repoRoot(), '.cache');
}

export function blobPath(dir: string, digest: string): string {
  return join(dir, 'blobs', 'sha256', digest.replace(/^sha256:/, ''));
}

export async function readBlob(images: BuiltTestImages, digest: string): Promise<Buffer> {
  return readFile(blobPath(images.dir, digest));
}

/** Collects blobs in memory; written to disk in one go. */
class BlobSet {
  readonly blobs = new Map<string, Buffer>();
  add(mediaType: string, data: Buffer): Descriptor {
    const digest = sha256(data);
    this.blobs.set(digest, data);
    return { mediaType, digest, size: data.length };
  }
  json(mediaType: string, value: unknown): Descriptor {
    return this.add(mediaType, Buffer.from(JSON.stringify(value)));
  }
}

function mediaTypesFor(format: 'docker' | 'oci') {
  return format === 'docker'
    ? {
        manifest: MediaTypes.dockerManifest,
        index: MediaTypes.dockerManifestList,
        config: MediaTypes.dockerConfig,
        layer: MediaTypes.dockerLayer,
      }
    : {
        manifest: MediaTypes.ociManifest,
        index: MediaTypes.ociIndex,
        config: MediaTypes.ociConfig,
        layer: MediaTypes.ociLayerGzip,
      };
}

function imageConfig(platform: Platform, config: object, layers: readonly BuiltLayer[], createdBy: readonly string[]) {
  // Key order fixed by this literal: the config digest must be reproducible.
  return {
    architecture: platform.architecture,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config,
    created: CREATED,
    history: createdBy.map((c) => ({ created: CREATED, created_by: c })),
    os: platform.os,
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
  };
}

function manifestJson(mediaType: string, config: Descriptor, layers: readonly Descriptor[]) {
  return { schemaVersion: 2, mediaType, config, layers };
}

function indexJson(mediaType: string, entries: readonly { manifest: Descriptor; platform: Platform }[]) {
  return {
    schemaVersion: 2,
    mediaType,
    manifests: entries.map((e) => ({ ...e.manifest, platform: e.platform })),
  };
}

async function placeholder(blobs: BlobSet, format: 'docker' | 'oci'): Promise<PlaceholderImage> {
  const types = mediaTypesFor(format);
  const layer = await buildLayer([
    { type: 'file', path: 'README', content: 'arm64 entry of a test index: a placeholder, never pulled on amd64\n' },
  ]);
  const layerDesc = blobs.add(types.layer, layer.gzip);
  const config = blobs.json(types.config, imageConfig(ARM64, { Cmd: ['cat', '/README'] }, [layer], ['placeholder']));
  const manifest = blobs.json(types.manifest, manifestJson(types.manifest, config, [layerDesc]));
  return { manifest, config, layers: [layerDesc] };
}

async function inputHash(debSha256: string): Promise<string> {
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ BUILDER_VERSION, debSha256, TEST_IMAGE_SPECS }));
  // The build code itself is an input: editing it must not serve stale images.
  for (const mod of ['./test-images', './layer-tar', './test-image-specs']) {
    hash.update(await readFile(require.resolve(mod)));
  }
  return hash.digest('hex').slice(0, 32);
}

/** Builds (or finds in the cache) every test image. Cold: ~1–2 s after the .deb download. */
export async function buildTestImages(options: { cacheDir?: string } = {}): Promise<BuiltTestImages> {
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const root = join(cacheDir, 'test-images');
  await mkdir(root, { recursive: true });
  const { debPath, debSha256 } = await locateBusyboxDeb(root);
  const hash = await inputHash(debSha256);
  const dir = join(root, hash);
  const indexFile = join(dir, 'images.json');
  if (existsSync(indexFile)) {
    const cached = JSON.parse(await readFile(indexFile, 'utf8')) as Omit<BuiltTestImages, 'dir' | 'built'>;
    return { ...cached, dir, built: false };
  }

  const busybox = await extractBusybox(debPath, debSha256, root);
  const blobs = new BlobSet();
  const base = await buildLayer(busyboxLayerEntries(busybox.binary, busybox.applets));
  const placeholders = { docker: await placeholder(blobs, 'docker'), oci: await placeholder(blobs, 'oci') };
  const images = {} as Record<TestImageName, BuiltTestImage>;
  for (const spec of TEST_IMAGE_SPECS) {
    images[spec.name] = await buildImage(blobs, spec, base, placeholders[spec.format]);
  }
  const arm64OnlyIndex = blobs.json(
    MediaTypes.dockerManifestList,
    indexJson(MediaTypes.dockerManifestList, [{ manifest: placeholders.docker.manifest, platform: ARM64 }]),
  );
  const result = { inputHash: hash, busyboxVersion: busybox.version, images, arm64OnlyIndex };

  // Write to a scratch folder and rename: parallel jest workers may build at once.
  const scratch = await mkdtemp(join(root, `.${hash}-`));
  try {
    await mkdir(join(scratch, 'blobs', 'sha256'), { recursive: true });
    for (const [digest, data] of blobs.blobs) await writeFile(blobPath(scratch, digest), data);
    await writeFile(join(scratch, 'images.json'), `${JSON.stringify(result, null, 2)}\n`);
    await rename(scratch, dir).catch(async (error: unknown) => {
      if (!existsSync(indexFile)) throw error; // someone else finished first: theirs is identical
      await rm(scratch, { recursive: true, force: true });
    });
  } catch (error) {
    await rm(scratch, { recursive: true, force: true });
    throw error;
  }
  return { ...result, dir, built: true };
}

async function buildImage(
  blobs: BlobSet,
  spec: TestImageSpec,
  base: BuiltLayer,
  arm64: PlaceholderImage,
): Promise<BuiltTestImage> {
  const types = mediaTypesFor(spec.format);
  const layers = [base];
  for (const entries of spec.upperLayers) layers.push(await buildLayer(entries));
  const layerDescs = layers.map((l) => blobs.add(types.layer, l.gzip));
  const createdBy = ['busybox-static from Debian', ...spec.upperLayers.map((_, i) => `vch test layer ${i + 1}`)];
  const config = blobs.json(types.config, imageConfig(AMD64, spec.config, layers, createdBy));
  const manifest = blobs.json(types.manifest, manifestJson(types.manifest, config, layerDescs));
  // arm64 first, so choosing linux/amd64 really has to look at the platforms.
  const index = blobs.json(
    types.index,
    indexJson(types.index, [
      { manifest: arm64.manifest, platform: ARM64 },
      { manifest, platform: AMD64 },
    ]),
  );
  return {
    name: spec.name,
    repository: spec.repository,
    tags: [...spec.tags],
    indexTag: spec.indexTag,
    manifest,
    config,
    layers: layerDescs,
    index,
    placeholder: arm64,
  };
}
