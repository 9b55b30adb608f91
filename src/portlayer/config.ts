/**
 * What a VCH is told at start: where vSphere is, which of its objects to use, how to reach
 * registries. Plain data, so `vch daemon`'s flags, `vch dev` and tests all build the same thing.
 */

import type { Logger } from 'pino';

export interface VsphereEndpointConfig {
  /** `https://vcenter.example/sdk` (the `/sdk` may be left off). */
  readonly url: string;
  readonly username: string;
  readonly password: string;
  /** Pins the endpoint's certificate (SHA-1 as vCenter shows it, or SHA-256). */
  readonly thumbprint?: string;
  /** Accepts any certificate: only when the user asked for it. */
  readonly insecure?: boolean;
}

export interface RegistrySettings {
  /** `host:port` registries spoken to over plain http (dockerd's `insecure-registries`). */
  readonly insecureRegistries?: readonly string[];
  /** Mirrors for docker.io (`http://127.0.0.1:5000`), tried in order before Docker Hub. */
  readonly mirrors?: readonly string[];
  /** A PEM file of CA certificates trusted for registries, besides the system's. */
  readonly caFile?: string;
}

/** Container VMs: without this the VCH serves images only. */
export interface ContainersConfig {
  /**
   * Where the attach server listens. The container VMs' serial ports dial it, so on vSphere
   * it must be an address the ESXi hosts reach; loopback only on the box.
   */
  readonly attachHost: string;
  /** Default: any free port. */
  readonly attachPort?: number;
  /** The address the VMs dial, when not `attachHost` (e.g. listening on 0.0.0.0). */
  readonly attachAdvertise?: string;
  /** The compiled tether packed into the bootstrap image; default `dist/src/tether`. */
  readonly tetherDir?: string;
  /** Cache of built bootstrap images; default `<repo>/.cache/bootstrap`. */
  readonly bootstrapCacheDir?: string;
}

export interface PortLayerConfig {
  /** The VCH's name: names its folder on the image datastore (`<name>/images`). */
  readonly name: string;
  readonly vsphere: VsphereEndpointConfig;
  /**
   * Inventory paths (absolute, or relative to the datacenter's folder for that kind, as govc
   * takes them); each may be left out when exactly one such object exists.
   */
  readonly datacenter?: string;
  /** A resource pool, or a cluster / host (its root pool, `…/Resources`). */
  readonly pool?: string;
  readonly imageDatastore?: string;
  readonly registry?: RegistrySettings;
  readonly containers?: ContainersConfig;
  /** Local scratch for layer downloads and disk builds (default: the OS temp dir). */
  readonly scratchDir?: string;
  /** Kernel of the container VMs, shown by `docker info` (the bootstrap image's). */
  readonly kernelVersion?: string;
  /** The VCH's own version (`docker version`). */
  readonly version?: string;
  readonly logger?: Logger;
}
