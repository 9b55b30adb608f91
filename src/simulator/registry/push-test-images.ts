/**
 * Pushes the built test images into a registry with the project's own registry client
 * (blobs monolithic POST+PUT, then manifests), so the box needs no Docker at all.
 */
import { RegistryClient } from '../../portlayer/storage/registry/client';
import type { Descriptor } from '../../portlayer/storage/registry/manifest-types';
import type { RegistryCredentials } from '../../portlayer/storage/registry/registry-auth-header';
import type { RegistryRepository } from '../../portlayer/storage/registry/repository';
import type { TestUser } from './htpasswd';
import { ARM64_ONLY_TAG, type TestImageName } from './test-image-specs';
import { type BuiltTestImage, type BuiltTestImages, buildTestImages, readBlob } from './test-images';

export interface PushTarget {
  readonly host: string;
  readonly ca?: string;
  /** http unless the registry was started with TLS. */
  readonly url?: string;
  readonly auth?: { readonly users?: readonly TestUser[] };
}

export interface PushedTestImage extends BuiltTestImage {
  /** `127.0.0.1:PORT/vch-test/layers:latest`, the second tag, and the index tag, in that order. */
  readonly references: {
    readonly tag: string;
    readonly secondTag: string;
    readonly index: string;
    readonly digest: string;
  };
}

export interface PushedTestImages {
  readonly built: BuiltTestImages;
  readonly images: Readonly<Record<TestImageName, PushedTestImage>>;
  /** `HOST/library/busybox:arm64-only`: an index without linux/amd64. */
  readonly arm64OnlyReference: string;
}

async function pushManifestWithBlobs(
  repo: RegistryRepository,
  built: BuiltTestImages,
  manifest: Descriptor,
  blobs: readonly Descriptor[],
  tags: readonly string[],
): Promise<void> {
  for (const blob of blobs) await repo.uploadBlob(await readBlob(built, blob.digest), blob.digest);
  const bytes = await readBlob(built, manifest.digest);
  for (const tag of tags) await repo.putManifest(tag, manifest.mediaType, bytes);
}

/** Builds (or reuses) the test images and pushes every one, its second tag and its index. */
export async function pushTestImages(
  registry: PushTarget,
  options: { cacheDir?: string; credentials?: RegistryCredentials } = {},
): Promise<PushedTestImages> {
  const built = await buildTestImages(options.cacheDir ? { cacheDir: options.cacheDir } : {});
  const firstUser = registry.auth?.users?.[0];
  const credentials =
    options.credentials ?? (firstUser ? { username: firstUser.username, password: firstUser.password } : undefined);
  const https = registry.url?.startsWith('https:') ?? false;
  const client = new RegistryClient({
    ...(https ? {} : { insecureRegistries: [registry.host] }),
    ...(registry.ca ? { ca: registry.ca } : {}),
  });
  try {
    const images = {} as Record<TestImageName, PushedTestImage>;
    for (const image of Object.values(built.images)) {
      const repo = client.repository(`${registry.host}/${image.repository}`, credentials);
      const ph = image.placeholder;
      // Index entries must exist before the index: push the arm64 placeholder by digest.
      await pushManifestWithBlobs(repo, built, ph.manifest, [...ph.layers, ph.config], [ph.manifest.digest]);
      await pushManifestWithBlobs(repo, built, image.manifest, [...image.layers, image.config], image.tags);
      await repo.putManifest(image.indexTag, image.index.mediaType, await readBlob(built, image.index.digest));
      if (image.name === 'busybox') {
        await repo.putManifest(
          ARM64_ONLY_TAG,
          built.arm64OnlyIndex.mediaType,
          await readBlob(built, built.arm64OnlyIndex.digest),
        );
      }
      const name = `${registry.host}/${image.repository}`;
      images[image.name] = {
        ...image,
        references: {
          tag: `${name}:${image.tags[0]}`,
          secondTag: `${name}:${image.tags[1]}`,
          index: `${name}:${image.indexTag}`,
          digest: `${name}@${image.manifest.digest}`,
        },
      };
    }
    return { built, images, arm64OnlyReference: `${registry.host}/library/busybox:${ARM64_ONLY_TAG}` };
  } finally {
    await client.close();
  }
}
