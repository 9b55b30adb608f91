/**
 * The port layer's `ImageService` (src/portlayer/api.ts) over the image store: maps the
 * store's events, records and errors onto the interface the personality speaks, so the
 * personality never sees a datastore path or a registry error class.
 */
import {
  type ImageSummary as ApiImageSummary,
  type PullOptions as ApiPullOptions,
  type PullResult as ApiPullResult,
  ConflictError,
  type ImageDeleteItem,
  type ImageDetails,
  type ImageHistoryEntry,
  type ImagePruneOptions,
  type ImagePruneResult,
  type ImageRemoveOptions,
  type ImageRunConfig,
  type ImageService,
  InvalidParameterError,
  NotFoundError,
  PortLayerError,
  type PullProgressEvent,
} from '../../api';
import {
  NotFoundError as RegistryNotFoundError,
  UnauthorizedError as RegistryUnauthorizedError,
} from '../registry/errors';
import type { ImageConfig } from '../registry/manifest-types';
import { PlatformNotFoundError, parsePlatform } from '../registry/platform';
import { familiarReference, InvalidReferenceError, parseReference } from '../registry/reference';
import { AmbiguousImageError, ImageInUseError, ImageNotFoundError } from './image-index';
import type { ImageStore, ImageSummary } from './image-store';
import type { PullEvent } from './progress';

/** The store's event as the interface's. */
export function toProgressEvent(e: PullEvent): PullProgressEvent {
  switch (e.type) {
    case 'pulling':
      return { type: 'pulling-from', tag: e.id, repository: e.repository };
    case 'layer':
      return {
        type: 'layer',
        layer: e.id,
        status: e.status,
        ...(e.progress ? { current: e.progress.current, total: e.progress.total } : {}),
      };
    case 'digest':
      return { type: 'digest', digest: e.digest };
    case 'status':
      return { type: 'status', upToDate: e.outcome === 'up-to-date', reference: e.reference };
  }
}

/** Store and registry errors as the port layer's kinds (which pick the HTTP status). */
export function toPortLayerError(error: unknown, ref: string): unknown {
  if (error instanceof PortLayerError) return error;
  if (error instanceof ImageNotFoundError) return new NotFoundError('image', error.reference);
  if (error instanceof AmbiguousImageError) return new NotFoundError('image', ref, error.message);
  if (error instanceof ImageInUseError) return new ConflictError(error.message);
  if (error instanceof InvalidReferenceError) return new InvalidParameterError(error.message);
  if (error instanceof RegistryUnauthorizedError) {
    // Never a 401: on a 401 the CLI assumes the *daemon* wants a login and prompts for one
    // (hanging a script). dockerd answers a refused pull with this not-found text instead.
    return new NotFoundError(
      'image',
      ref,
      `pull access denied for ${repositoryOf(ref)}, repository does not exist or may require 'docker login': ${error.message}`,
    );
  }
  if (error instanceof RegistryNotFoundError || error instanceof PlatformNotFoundError) {
    return new NotFoundError('image', ref, error.message);
  }
  return error;
}

/** `busybox:latest` → `busybox`, as dockerd names the repository in a refused pull. */
function repositoryOf(ref: string): string {
  try {
    const r = parseReference(ref);
    return familiarReference({ domain: r.domain, path: r.path });
  } catch {
    return ref;
  }
}

function runConfig(config: ImageConfig): ImageRunConfig {
  const c = config.config ?? {};
  return {
    ...(c.User ? { user: c.User } : {}),
    ...(c.Env ? { env: c.Env } : {}),
    ...(c.Cmd ? { cmd: c.Cmd } : {}),
    ...(c.Entrypoint ? { entrypoint: c.Entrypoint } : {}),
    ...(c.WorkingDir ? { workingDir: c.WorkingDir } : {}),
    ...(c.Labels ? { labels: c.Labels } : {}),
    ...(c.ExposedPorts ? { exposedPorts: Object.keys(c.ExposedPorts) } : {}),
    ...(c.Volumes ? { volumes: Object.keys(c.Volumes) } : {}),
    ...(c.StopSignal ? { stopSignal: c.StopSignal } : {}),
  };
}

export class ImageStoreService implements ImageService {
  constructor(private readonly store: ImageStore) {}

  private async guard<T>(ref: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw toPortLayerError(error, ref);
    }
  }

  pull(ref: string, o: ApiPullOptions): Promise<ApiPullResult> {
    return this.guard(ref, async () => {
      const reference = parseReference(ref);
      const result = await this.store.pull(reference, {
        ...(o.auth ? { credentials: o.auth } : {}),
        ...(o.platform ? { platform: parsePlatform(o.platform) } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
        onEvent: (e) => o.onProgress(toProgressEvent(e)),
      });
      return {
        id: result.image.id,
        reference: familiarReference(reference),
        digest: result.image.manifestDigest,
        upToDate: result.outcome === 'up-to-date',
      };
    });
  }

  private async summary(image: ImageSummary): Promise<ApiImageSummary> {
    const config = await this.store.getConfig(image.id);
    return {
      id: image.id,
      parentId: '',
      repoTags: image.repoTags,
      repoDigests: image.repoDigests,
      created: new Date(image.created ?? 0),
      size: image.size,
      labels: config.config?.Labels ?? {},
      containers: -1,
    };
  }

  async list(): Promise<readonly ApiImageSummary[]> {
    return Promise.all(this.store.listImages().map((i) => this.summary(i)));
  }

  inspect(nameOrId: string): Promise<ImageDetails> {
    return this.guard(nameOrId, async () => {
      const image = this.store.getImage(nameOrId);
      const config = await this.store.getConfig(image.id);
      return {
        ...(await this.summary(image)),
        comment: '',
        author: config.author ?? '',
        architecture: image.architecture,
        os: image.os,
        ...(config.variant ? { variant: config.variant } : {}),
        config: runConfig(config),
        layers: image.layers.map((l) => l.diffId),
      };
    });
  }

  history(nameOrId: string): Promise<readonly ImageHistoryEntry[]> {
    return this.guard(nameOrId, async () =>
      (await this.store.history(nameOrId)).map((h) => ({ ...h, created: new Date(h.created * 1000) })),
    );
  }

  tag(source: string, target: string): Promise<void> {
    return this.guard(source, () => this.store.tag(source, target));
  }

  remove(nameOrId: string, o: ImageRemoveOptions): Promise<readonly ImageDeleteItem[]> {
    return this.guard(nameOrId, async () => {
      const result = await this.store.deleteImage(nameOrId, o.force ? { force: true } : {});
      return [...result.untagged.map((untagged) => ({ untagged })), ...result.deleted.map((deleted) => ({ deleted }))];
    });
  }

  async prune(o: ImagePruneOptions): Promise<ImagePruneResult> {
    const deleted: ImageDeleteItem[] = [];
    let spaceReclaimed = 0;
    for (const image of this.store.listImages()) {
      if (!o.select(await this.summary(image))) continue;
      deleted.push(...(await this.remove(image.id, { force: true })));
      spaceReclaimed += image.size;
    }
    return { deleted, spaceReclaimed };
  }
}
