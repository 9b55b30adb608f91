/**
 * The execution room as a VCH opens it: the bootstrap image (built once into its cache,
 * from the compiled tether), the attach server the container VMs' serial ports dial, and
 * `openExecution` on the VCH's vSphere target and image store.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildBootstrap } from '../../bootstrap';
import { defaultTetherDir } from '../../bootstrap/build';
import type { ContainersConfig } from '../config';
import { AttachServer } from '../interaction/attach-server';
import type { ImageDatastore } from '../storage/images/image-datastore';
import type { ImageStore } from '../storage/images/image-store';
import type { VsphereTarget } from '../system/vsphere-target';
import { ImageStoreImages } from './images';
import { type Execution, openExecution } from './index';
import { ensureVmFolder } from './placement';
import { previousSerialUri } from './template';

export interface OpenedExecution {
  readonly execution: Execution;
  /** `tcp://host:port`: what the container VMs' serial ports connect to. */
  readonly serialUri: string;
  close(): Promise<void>;
}

export async function openVchExecution(o: {
  readonly vch: string;
  readonly config: ContainersConfig;
  readonly target: VsphereTarget;
  readonly files: ImageDatastore;
  readonly store: ImageStore;
  readonly log: (msg: string) => void;
}): Promise<OpenedExecution> {
  const tetherDir = o.config.tetherDir ?? defaultTetherDir();
  // Without the compiled tether the image would carry the pipeline's placeholder, whose VMs
  // never run a container: refuse rather than make a template that cannot work.
  if (!existsSync(join(tetherDir, 'vm', 'boot.js'))) {
    throw new Error(`${tetherDir} is not the compiled tether: run \`npm run build\` first`);
  }
  const image = await buildBootstrap({
    tetherDir,
    ...(o.config.bootstrapCacheDir !== undefined ? { cacheDir: o.config.bootstrapCacheDir } : {}),
  });
  const advertise = o.config.attachAdvertise ?? o.config.attachHost;
  const attach = await listenAttach(o, advertise);
  try {
    const bound = attach.address();
    if (typeof bound === 'string') throw new Error('the attach server listens on TCP');
    const serialUri = `tcp://${advertise}:${bound.port}`;
    const execution = await openExecution({
      ctx: o.target.ctx,
      vch: o.vch,
      datacenter: o.target.datacenter,
      pool: o.target.pool.ref,
      datastore: o.target.imageDatastore.name,
      files: o.files,
      images: new ImageStoreImages(o.store),
      iso: { path: image.iso, hash: image.manifest.hash },
      attachServer: attach,
      serialUri,
      log: o.log,
    });
    return {
      execution,
      serialUri,
      async close() {
        await execution.close();
        await attach.close();
      },
    };
  } catch (error) {
    await attach.close();
    throw error;
  }
}

/**
 * The configured port, else the one this VCH's templates dial (a restarted VCH: its
 * templates and its running containers find it again), else any free port.
 */
async function listenAttach(
  o: { readonly vch: string; readonly config: ContainersConfig; readonly target: VsphereTarget },
  advertise: string,
): Promise<AttachServer> {
  const host = o.config.attachHost;
  if (o.config.attachPort !== undefined) return AttachServer.listen({ host, port: o.config.attachPort });
  const folder = await ensureVmFolder(o.target.ctx, o.target.datacenter, o.vch);
  const previous = await previousSerialUri({ ctx: o.target.ctx, folder });
  const match = previous ? /^tcp:\/\/(.+):(\d+)$/.exec(previous) : null;
  if (match && match[1] === advertise) {
    // Taken (another VCH process on this folder): the templates are made again for a new port.
    const again = await AttachServer.listen({ host, port: Number(match[2]) }).catch(() => undefined);
    if (again) return again;
  }
  return AttachServer.listen({ host, port: 0 });
}
