/**
 * What the execution room needs of the image store: an image's id, its layer disks and
 * its run config. An interface so the lifecycle can be driven by any store.
 */
import { type ImageRunConfig, NotFoundError } from '../api';
import { ImageNotFoundError } from '../storage/images/image-index';
import type { ImageStore } from '../storage/images/image-store';

export interface ContainerImage {
  readonly id: string;
  /** Layers bottom first: diff id and the `[ds] …/layer.vmdk` a container VM attaches. */
  readonly layers: readonly { readonly diffId: string; readonly disk: string }[];
  readonly config: ImageRunConfig;
}

export interface ContainerImages {
  /** NotFoundError (`No such image: x`) when the store does not have it. */
  resolve(ref: string): Promise<ContainerImage>;
}

export class ImageStoreImages implements ContainerImages {
  constructor(private readonly store: ImageStore) {}

  async resolve(ref: string): Promise<ContainerImage> {
    try {
      const image = this.store.getImage(ref);
      const c = (await this.store.getConfig(image.id)).config ?? {};
      const config: ImageRunConfig = {
        ...(c.User !== undefined ? { user: c.User } : {}),
        ...(c.Env ? { env: c.Env } : {}),
        ...(c.Cmd ? { cmd: c.Cmd } : {}),
        ...(c.Entrypoint ? { entrypoint: c.Entrypoint } : {}),
        ...(c.WorkingDir !== undefined ? { workingDir: c.WorkingDir } : {}),
        ...(c.Labels ? { labels: c.Labels } : {}),
        ...(c.StopSignal !== undefined ? { stopSignal: c.StopSignal } : {}),
      };
      return { id: image.id, layers: image.layers.map((l) => ({ diffId: l.diffId, disk: l.disk })), config };
    } catch (error) {
      if (error instanceof ImageNotFoundError) throw new NotFoundError('image', ref);
      throw error;
    }
  }
}
