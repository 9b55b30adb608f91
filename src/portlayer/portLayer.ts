/**
 * Opens a VCH's port layer: one vSphere session, the inventory objects named in the config,
 * the image store on the image datastore and a registry client — and hands back the
 * services the personality speaks to. Everything durable lives in vSphere (the image
 * index and layer disks on the datastore), so opening a second port layer with the same
 * name and datastore sees the same images.
 */

import { readFile } from 'node:fs/promises';
import type { AuthService, ContainerService, ImageService, PortLayer, SystemService } from './api';
import type { PortLayerConfig } from './config';
import { type OpenedExecution, openVchExecution } from './execution/open';
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
  /** Present when the config asks for containers. */
  readonly containers?: ContainerService;
  /** Where it runs, for the daemon's start-up log line. */
  readonly placement: {
    readonly datacenter: string;
    readonly resourcePool: string;
    readonly imageDatastore: string;
    readonly instantClone: boolean;
    /** What the container VMs' serial ports dial, with containers. */
    readonly attach?: string;
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
  let execution: OpenedExecution | undefined;
  try {
    target = await openVsphereTarget(config);
    const files = new VsphereImageDatastore(target.ctx, target.dc, target.imageDatastore.name);
    const store = await ImageStore.open({
      datastore: files,
      vchFolder: config.name,
      registry,
      ...(config.scratchDir !== undefined ? { scratchDir: config.scratchDir } : {}),
    });
    const images = new ImageStoreService(store);
    const instantClone = canInstantClone(target.ctx.client);
    if (config.containers) {
      const logger = config.logger;
      execution = await openVchExecution({
        vch: config.name,
        config: config.containers,
        target,
        files,
        store,
        log: (msg) => logger?.info({ component: 'execution' }, msg),
      });
    }
    const containers = execution?.execution.containers;
    const system = new VsphereSystemService({
      name: config.name,
      target,
      images,
      registry: settings,
      version: config.version ?? DEFAULT_VERSION,
      kernelVersion: config.kernelVersion ?? '',
      targetUrl: config.vsphere.url,
      instantClone,
      ...(containers ? { containers } : {}),
    });
    const opened = target;
    const openedExecution = execution;
    return {
      images,
      system,
      auth: new RegistryLoginService(registry),
      ...(containers ? { containers } : {}),
      placement: {
        datacenter: opened.datacenter.path,
        resourcePool: opened.pool.path,
        imageDatastore: opened.imageDatastore.name,
        instantClone,
        ...(openedExecution ? { attach: openedExecution.serialUri } : {}),
      },
      async close() {
        await openedExecution?.close().catch(() => undefined);
        await registry.close().catch(() => undefined);
        await opened.close();
      },
    };
  } catch (error) {
    await execution?.close().catch(() => undefined);
    await registry.close().catch(() => undefined);
    await target?.close();
    throw error;
  }
}
