/**
 * Opens a VCH's port layer: one vSphere session, the inventory objects named in the config,
 * the image store on the image datastore and a registry client — and hands back the
 * services the personality speaks to. Everything durable lives in vSphere (the image
 * index and layer disks on the datastore), so opening a second port layer with the same
 * name and datastore sees the same images.
 */

import { readFile } from 'node:fs/promises';
import type { AuthService, ImageService, PortLayer, SystemService } from './api';
import type { PortLayerConfig } from './config';
import { VsphereImageDatastore } from './storage/images/image-datastore';
import { ImageStoreService } from './storage/images/image-service';
import { ImageStore } from './storage/images/image-store';
import { RegistryClient } from './storage/registry/client';
import { canInstantClone } from './system/instant-clone';
import { RegistryLoginService } from './system/registry-login';
import { VsphereSystemService } from './system/system-service';
import { openVsphereTarget } from './system/vsphere-target';

export interface OpenPortLayer extends PortLayer {
  readonly images: ImageService;
  readonly system: SystemService;
  readonly auth: AuthService;
  /** Where it runs, for the daemon's start-up log line. */
  readonly placement: {
    readonly datacenter: string;
    readonly resourcePool: string;
    readonly imageDatastore: string;
    readonly instantClone: boolean;
  };
  /** Ends the vSphere session and the registry connections. */
  close(): Promise<void>;
}

const DEFAULT_VERSION = '0.1.0';

export async function openPortLayer(config: PortLayerConfig): Promise<OpenPortLayer> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(config.name)) {
    // It names a datastore folder: keep to characters every datastore takes.
    throw new Error(`invalid VCH name ${JSON.stringify(config.name)}: use letters, digits, '.', '_' and '-'`);
  }
  const settings = config.registry ?? {};
  const ca = settings.caFile !== undefined ? await readFile(settings.caFile, 'utf8') : undefined;
  const registry = new RegistryClient({
    insecureRegistries: settings.insecureRegistries ?? [],
    mirrors: settings.mirrors ?? [],
    ...(ca !== undefined ? { ca } : {}),
  });
  let target: Awaited<ReturnType<typeof openVsphereTarget>> | undefined;
  try {
    target = await openVsphereTarget(config);
    const store = await ImageStore.open({
      datastore: new VsphereImageDatastore(target.ctx, target.dc, target.imageDatastore.name),
      vchFolder: config.name,
      registry,
      ...(config.scratchDir !== undefined ? { scratchDir: config.scratchDir } : {}),
    });
    const images = new ImageStoreService(store);
    const instantClone = canInstantClone(target.ctx.client);
    const system = new VsphereSystemService({
      name: config.name,
      target,
      images,
      registry: settings,
      version: config.version ?? DEFAULT_VERSION,
      kernelVersion: config.kernelVersion ?? '',
      targetUrl: config.vsphere.url,
      instantClone,
    });
    const opened = target;
    return {
      images,
      system,
      auth: new RegistryLoginService(registry),
      placement: {
        datacenter: opened.datacenter.path,
        resourcePool: opened.pool.path,
        imageDatastore: opened.imageDatastore.name,
        instantClone,
      },
      async close() {
        await registry.close().catch(() => undefined);
        await opened.close();
      },
    };
  } catch (error) {
    await registry.close().catch(() => undefined);
    await target?.close();
    throw error;
  }
}
