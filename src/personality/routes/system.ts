/**
 * `/_ping`, `/version`, `/info`: how clients find out what they talk to. Versions and the
 * host's shape come from the port layer's SystemService; everything Docker-specific
 * (API versions, the field names `docker info` prints) is decided here.
 */

import os from 'node:os';
import { type Request, type Response, Router } from 'express';
import type { SystemInfo, SystemService } from '../../portlayer/api';
import { sendJson } from '../json-response';
import { MAX_API_VERSION, MIN_API_VERSION } from '../versioning';

/** Docker's names for Node's `process.arch`. */
const GO_ARCH: Readonly<Record<string, string>> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386' };
/** `uname -m` names, which `docker info` shows as Architecture. */
const UNAME_ARCH: Readonly<Record<string, string>> = { x64: 'x86_64', arm64: 'aarch64', arm: 'armv7l', ia32: 'i686' };

function ping(req: Request, res: Response): void {
  res.setHeader('Cache-Control', 'no-cache, no-store, must-revalidate');
  res.setHeader('Pragma', 'no-cache');
  // No BuildKit here: the classic builder's version keeps the CLI from trying a session.
  res.setHeader('Builder-Version', '1');
  res.setHeader('Swarm', 'inactive');
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  if (req.method === 'HEAD') {
    res.setHeader('Content-Length', '0');
    res.status(200).end();
    return;
  }
  res.status(200).end('OK');
}

/** `docker info`'s extra lines: where the containers go. Pairs, as the API defines them. */
export function systemStatus(info: SystemInfo): [string, string][] {
  const v = info.vsphere;
  const total = info.containers.running + info.containers.paused + info.containers.stopped;
  return [
    ['vSphere target', v.target],
    ['VMware Product', v.product],
    ['Resource Pool', v.resourcePool],
    ['Container VMs', String(total)],
    ['Instant Clone', v.instantClone ? 'available' : 'unavailable: linked clones, cold boot'],
    ['Networks', v.networks.join(', ')],
  ];
}

function datastoreLine(name: string, capacity?: number, free?: number): string {
  if (capacity === undefined) return name;
  const gib = (n: number): string => `${(n / 2 ** 30).toFixed(1)} GiB`;
  return free === undefined ? `${name} (${gib(capacity)})` : `${name} (${gib(free)} free of ${gib(capacity)})`;
}

export function driverStatus(info: SystemInfo): [string, string][] {
  const v = info.vsphere;
  return [
    ['Image Datastore', datastoreLine(v.imageStore.name, v.imageStore.capacity, v.imageStore.free)],
    ['Volume Stores', v.volumeStores.map((d) => datastoreLine(d.name, d.capacity, d.free)).join(', ') || 'none'],
  ];
}

/**
 * dockerd's RegistryConfig: `docker info` lists the IndexConfigs that are not Secure under
 * "Insecure Registries" and Mirrors under "Registry Mirrors".
 */
export function registryConfig(info: SystemInfo): Record<string, unknown> {
  const insecure = info.registries?.insecure ?? [];
  const mirrors = info.registries?.mirrors ?? [];
  const indexConfigs: Record<string, unknown> = {
    'docker.io': { Name: 'docker.io', Mirrors: mirrors, Secure: true, Official: true },
  };
  for (const name of insecure) indexConfigs[name] = { Name: name, Mirrors: [], Secure: false, Official: false };
  return {
    AllowNondistributableArtifactsCIDRs: null,
    InsecureRegistryCIDRs: [],
    IndexConfigs: indexConfigs,
    Mirrors: mirrors,
  };
}

/** The `/info` body, with every field the CLI reads present (Go zero values otherwise). */
export function toDockerInfo(info: SystemInfo, serverVersion: string, now: Date = new Date()): Record<string, unknown> {
  const c = info.containers;
  return {
    ID: info.id,
    Containers: c.running + c.paused + c.stopped,
    ContainersRunning: c.running,
    ContainersPaused: c.paused,
    ContainersStopped: c.stopped,
    Images: info.images,
    Driver: 'vsphere',
    DriverStatus: driverStatus(info),
    SystemStatus: systemStatus(info),
    Plugins: { Volume: ['vsphere'], Network: ['bridge'], Authorization: null, Log: ['json-file'] },
    MemoryLimit: true,
    SwapLimit: false,
    CpuCfsPeriod: false,
    CpuCfsQuota: false,
    CPUShares: true,
    CPUSet: false,
    PidsLimit: false,
    IPv4Forwarding: true,
    Debug: false,
    NFd: 0,
    OomKillDisable: false,
    NGoroutines: 0,
    SystemTime: now.toISOString(),
    LoggingDriver: 'json-file',
    CgroupDriver: 'none',
    CgroupVersion: '2',
    NEventsListener: 0,
    KernelVersion: info.kernelVersion,
    OperatingSystem: info.operatingSystem,
    OSVersion: '',
    OSType: 'linux',
    Architecture: UNAME_ARCH[process.arch] ?? process.arch,
    IndexServerAddress: 'https://index.docker.io/v1/',
    RegistryConfig: registryConfig(info),
    NCPU: info.cpus,
    MemTotal: info.memoryBytes,
    GenericResources: null,
    DockerRootDir: '',
    HttpProxy: '',
    HttpsProxy: '',
    NoProxy: '',
    Name: info.name,
    Labels: [],
    ExperimentalBuild: false,
    ServerVersion: serverVersion,
    Runtimes: {},
    DefaultRuntime: '',
    Swarm: {
      NodeID: '',
      NodeAddr: '',
      LocalNodeState: 'inactive',
      ControlAvailable: false,
      Error: '',
      RemoteManagers: null,
    },
    LiveRestoreEnabled: false,
    Isolation: '',
    InitBinary: '',
    ContainerdCommit: { ID: '' },
    RuncCommit: { ID: '' },
    InitCommit: { ID: '' },
    SecurityOptions: [],
    Warnings: null,
  };
}

export function systemRoutes(system: SystemService): Router {
  const router = Router();
  router.head('/_ping', ping);
  router.get('/_ping', ping);

  router.get('/version', async (_req, res) => {
    const v = await system.version();
    const arch = GO_ARCH[process.arch] ?? process.arch;
    const details = {
      ApiVersion: MAX_API_VERSION,
      Arch: arch,
      BuildTime: v.buildTime,
      Experimental: 'false',
      GitCommit: v.gitCommit,
      GoVersion: `node ${process.version}`,
      KernelVersion: v.kernelVersion,
      MinAPIVersion: MIN_API_VERSION,
      Os: 'linux',
    };
    sendJson(res, 200, {
      Platform: { Name: 'VMware vSphere Container Host' },
      Components: [{ Name: 'Engine', Version: v.version, Details: details }],
      Version: v.version,
      ApiVersion: MAX_API_VERSION,
      MinAPIVersion: MIN_API_VERSION,
      GitCommit: v.gitCommit,
      GoVersion: details.GoVersion,
      Os: 'linux',
      Arch: arch,
      KernelVersion: v.kernelVersion,
      BuildTime: v.buildTime,
    });
  });

  router.get('/info', async (_req, res) => {
    const [info, v] = await Promise.all([system.info(), system.version()]);
    sendJson(res, 200, toDockerInfo(info, v.version));
  });
  return router;
}

/** Headers dockerd puts on every response; `Server` names us, as `Docker/28.2.2 (linux)` names dockerd. */
export function commonHeaders(serverVersion: string): (req: Request, res: Response, next: () => void) => void {
  const server = `VCH/${serverVersion} (${os.platform()})`;
  return (_req, res, next) => {
    res.setHeader('Api-Version', MAX_API_VERSION);
    res.setHeader('Docker-Experimental', 'false');
    res.setHeader('Ostype', 'linux');
    res.setHeader('Server', server);
    next();
  };
}
