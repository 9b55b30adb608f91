/**
 * The port layer's public interface: everything the personality (the Docker Engine API
 * server) may call. The personality imports this file and nothing else of the port layer,
 * so the services behind it — the image store on the datastore, vSphere inventory, later
 * the container lifecycle — can be swapped for in-memory fakes in tests.
 *
 * Types here are the port layer's own (camelCase, plain data); turning them into Docker's
 * JSON shapes is the personality's job. Errors are the one hierarchy below: a service throws
 * them, the personality maps each kind to an HTTP status.
 */

import type { Readable, Writable } from 'node:stream';
import type { RegistryCredentials } from './storage/registry/registry-auth-header';

export type { RegistryCredentials };

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

/**
 * What went wrong, in the categories Docker's errdefs uses, so the personality can choose
 * the status code without knowing which service threw.
 */
export type ErrorKind =
  | 'not-found'
  | 'invalid-parameter'
  | 'conflict'
  | 'unauthorized'
  | 'forbidden'
  | 'not-implemented'
  | 'unavailable'
  | 'system';

/** Base of every error a port-layer service throws on purpose. */
export abstract class PortLayerError extends Error {
  abstract readonly kind: ErrorKind;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The kinds of object a "No such …" message names; Docker clients match these texts. */
export type ResourceKind = 'image' | 'container' | 'exec instance' | 'volume' | 'network';

/**
 * A named object does not exist. The message is Docker's exactly (`No such image: x`):
 * docker-py and compose 1.29 match on "No such image" to decide to pull.
 */
export class NotFoundError extends PortLayerError {
  readonly kind = 'not-found';
  constructor(
    readonly resource: ResourceKind,
    readonly ref: string,
    message = `No such ${resource}: ${ref}`,
  ) {
    super(message);
  }
}

/** A request that can never succeed as written (bad reference, bad filter, bad value). */
export class InvalidParameterError extends PortLayerError {
  readonly kind = 'invalid-parameter';
}

/** The request clashes with current state (image in use by a container, name taken). */
export class ConflictError extends PortLayerError {
  readonly kind = 'conflict';
}

/** A registry (or the VCH) refused the credentials. */
export class UnauthorizedError extends PortLayerError {
  readonly kind = 'unauthorized';
}

export class ForbiddenError extends PortLayerError {
  readonly kind = 'forbidden';
}

/** A Docker feature the VCH does not offer (yet); say which in the message. */
export class NotImplementedError extends PortLayerError {
  readonly kind = 'not-implemented';
}

/** A dependency (vSphere, the datastore, a registry) is unreachable for now. */
export class UnavailableError extends PortLayerError {
  readonly kind = 'unavailable';
}

/** Our own fault: a bug or an unexpected state. */
export class SystemError extends PortLayerError {
  readonly kind = 'system';
}

// ---------------------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------------------

/** One image in a listing. Ids are `sha256:<64 hex>` (the config digest). */
export interface ImageSummary {
  readonly id: string;
  /** `sha256:…` of the parent image, or '' (images pulled from a registry have none). */
  readonly parentId: string;
  /** Familiar references: `busybox:latest`, `127.0.0.1:5000/foo/bar:1`. */
  readonly repoTags: readonly string[];
  /** `busybox@sha256:…` — the manifest digests the image was pulled by. */
  readonly repoDigests: readonly string[];
  /** Creation time from the image config. */
  readonly created: Date;
  /** Bytes of all layers, uncompressed. */
  readonly size: number;
  readonly labels: Readonly<Record<string, string>>;
  /** Containers using the image, or -1 when the store does not count them. */
  readonly containers: number;
}

/** The runnable part of an image config (OCI `config` object). */
export interface ImageRunConfig {
  readonly user?: string;
  readonly env?: readonly string[];
  readonly cmd?: readonly string[];
  readonly entrypoint?: readonly string[];
  readonly workingDir?: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** `80/tcp` style keys. */
  readonly exposedPorts?: readonly string[];
  readonly volumes?: readonly string[];
  readonly stopSignal?: string;
  readonly onBuild?: readonly string[];
  readonly healthcheck?: {
    readonly test?: readonly string[];
    readonly interval?: number;
    readonly timeout?: number;
    readonly retries?: number;
    readonly startPeriod?: number;
  };
}

export interface ImageDetails extends ImageSummary {
  readonly comment: string;
  readonly author: string;
  readonly architecture: string;
  readonly os: string;
  readonly variant?: string;
  readonly config: ImageRunConfig;
  /** Diff ids (`sha256:…` of each uncompressed layer), bottom first. */
  readonly layers: readonly string[];
  /** When a tag last moved onto this image, if ever. */
  readonly lastTagTime?: Date;
}

export interface ImageHistoryEntry {
  /** The image id for the top entry, `<missing>` for the others (as Docker reports pulled images). */
  readonly id: string;
  readonly created: Date;
  readonly createdBy: string;
  readonly tags: readonly string[];
  readonly size: number;
  readonly comment: string;
}

/** Docker's per-layer texts, used verbatim as the status of a layer's progress event. */
export type LayerPullStatus =
  | 'Pulling fs layer'
  | 'Waiting'
  | 'Downloading'
  | 'Verifying Checksum'
  | 'Download complete'
  | 'Extracting'
  | 'Pull complete'
  | 'Already exists';

/**
 * Progress of a pull, in order. The personality renders each event as one JSON progress
 * message, so the store emits the whole conversation, the final status line included.
 */
export type PullProgressEvent =
  /** `latest: Pulling from library/busybox` — `tag` is the tag or digest asked for. */
  | { readonly type: 'pulling-from'; readonly tag: string; readonly repository: string }
  /** One layer's progress; `layer` is the short id (12 hex of the layer digest). */
  | {
      readonly type: 'layer';
      readonly layer: string;
      readonly status: LayerPullStatus;
      /** Bytes done and expected, for `Downloading` and `Extracting`. */
      readonly current?: number;
      readonly total?: number;
    }
  /** `Digest: sha256:…` — the manifest digest. */
  | { readonly type: 'digest'; readonly digest: string }
  /** `Status: Downloaded newer image for x` or `Status: Image is up to date for x`. */
  | { readonly type: 'status'; readonly upToDate: boolean; readonly reference: string };

export interface PullOptions {
  readonly auth?: RegistryCredentials;
  /** `os/arch[/variant]`; default linux/amd64. */
  readonly platform?: string;
  readonly onProgress: (event: PullProgressEvent) => void;
  /** Aborted when the client goes away. */
  readonly signal?: AbortSignal;
}

export interface PullResult {
  readonly id: string;
  /** Familiar reference that now names the image: `busybox:latest`. */
  readonly reference: string;
  readonly digest: string;
  readonly upToDate: boolean;
}

/** One line of a delete's answer: a tag removed, or an image (or layer) deleted. */
export type ImageDeleteItem = { readonly untagged: string } | { readonly deleted: string };

export interface ImageRemoveOptions {
  /** Remove even if containers use it or it has several tags. */
  readonly force?: boolean;
  /** Keep untagged parents. */
  readonly noprune?: boolean;
}

export interface ImagePruneOptions {
  /**
   * Which images may go. The personality builds it from Docker's prune filters
   * (`dangling`, `until`, `label`), so the store needs no knowledge of them; the store
   * still never removes an image a container uses.
   */
  readonly select: (image: ImageSummary) => boolean;
}

export interface ImagePruneResult {
  readonly deleted: readonly ImageDeleteItem[];
  readonly spaceReclaimed: number;
}

export interface ImageService {
  /** Pulls `ref` (a normalisable reference with tag or digest); throws before the first event when it cannot start. */
  pull(ref: string, options: PullOptions): Promise<PullResult>;
  /**
   * Every image. Docker's list filters are applied by the personality (DESIGN.md puts
   * filters in its room), so every store gets the same semantics.
   */
  list(): Promise<readonly ImageSummary[]>;
  /** By reference (`busybox`, `busybox:1`, `x@sha256:…`), full id, or unique id prefix; NotFoundError otherwise. */
  inspect(nameOrId: string): Promise<ImageDetails>;
  history(nameOrId: string): Promise<readonly ImageHistoryEntry[]>;
  /** Points `target` (`repo:tag`, already normalised to a tag) at the image `source` names. */
  tag(source: string, target: string): Promise<void>;
  /** ConflictError while a container uses the image, unless forced. */
  remove(nameOrId: string, options: ImageRemoveOptions): Promise<readonly ImageDeleteItem[]>;
  prune(options: ImagePruneOptions): Promise<ImagePruneResult>;
}

// ---------------------------------------------------------------------------------------
// Registry login
// ---------------------------------------------------------------------------------------

/** `docker login`'s answer. The VCH keeps no credentials: the CLI stores them and sends them with each pull. */
export interface LoginResult {
  /** `Login Succeeded`. */
  readonly status: string;
  /** An OAuth identity token the client should keep instead of the password; none from us yet. */
  readonly identityToken?: string;
}

export interface AuthService {
  /**
   * Checks credentials against the registry at `credentials.serverAddress` (docker.io when
   * absent) with a `GET /v2/` round trip; UnauthorizedError with Docker's message when the
   * registry refuses them, UnavailableError when it cannot be reached.
   */
  login(credentials: RegistryCredentials): Promise<LoginResult>;
}

// ---------------------------------------------------------------------------------------
// System
// ---------------------------------------------------------------------------------------

export interface DatastoreInfo {
  readonly name: string;
  /** Bytes; undefined when not known. */
  readonly capacity?: number;
  readonly free?: number;
}

/** What `docker info` shows about the VCH and the vSphere it runs containers on. */
export interface SystemInfo {
  /** The VCH's name (shown as `Name`). */
  readonly name: string;
  /** A stable id of this VCH. */
  readonly id: string;
  readonly vsphere: {
    /** The endpoint: `https://vcenter.example/sdk`. */
    readonly target: string;
    /** `VMware vCenter Server 8.0.2 build-…`, or the simulator's. */
    readonly product: string;
    /** Inventory path of the resource pool the container VMs live in. */
    readonly resourcePool: string;
    readonly imageStore: DatastoreInfo;
    readonly volumeStores: readonly DatastoreInfo[];
    readonly networks: readonly string[];
    /** False when the endpoint lacks InstantClone_Task and containers cold boot. */
    readonly instantClone: boolean;
  };
  readonly containers: {
    readonly running: number;
    readonly paused: number;
    readonly stopped: number;
  };
  readonly images: number;
  /** vCPUs and bytes of memory the resource pool may give containers. */
  readonly cpus: number;
  readonly memoryBytes: number;
  /** Kernel of the container VMs (the bootstrap image's). */
  readonly kernelVersion: string;
  /** e.g. `VMware vSphere (VCH 0.1.0)`. */
  readonly operatingSystem: string;
  /** How the VCH reaches registries (dockerd's `insecure-registries`, `registry-mirrors`). */
  readonly registries?: {
    /** `host:port` spoken to over plain http. */
    readonly insecure: readonly string[];
    /** Mirror URLs tried before Docker Hub. */
    readonly mirrors: readonly string[];
  };
}

export interface SystemVersion {
  /** The VCH's own version. */
  readonly version: string;
  readonly gitCommit: string;
  readonly buildTime: string;
  readonly kernelVersion: string;
}

export interface SystemService {
  info(): Promise<SystemInfo>;
  version(): Promise<SystemVersion>;
}

// ---------------------------------------------------------------------------------------
// Containers
// ---------------------------------------------------------------------------------------

/** What `docker create` asks for (the runnable part of Docker's container config). */
export interface ContainerCreateSpec {
  /** The image by reference or id; its config fills what the spec leaves out. */
  readonly image: string;
  /** `x` or `/x`; a name is made up when absent. */
  readonly name?: string;
  /** Replaces the image's Cmd; an empty list counts as absent (Docker's rule). */
  readonly cmd?: readonly string[];
  /** Replaces the image's Entrypoint, and then the image's Cmd is dropped (Docker's rule). */
  readonly entrypoint?: readonly string[];
  /** Added to the image's Env; a key given here wins. */
  readonly env?: readonly string[];
  readonly workingDir?: string;
  readonly user?: string;
  readonly hostname?: string;
  readonly domainname?: string;
  readonly tty?: boolean;
  readonly openStdin?: boolean;
  readonly stdinOnce?: boolean;
  readonly labels?: Readonly<Record<string, string>>;
  readonly stopSignal?: string;
  /** Seconds `stop` waits before killing, unless the caller says otherwise (default 10). */
  readonly stopTimeout?: number;
  /** Extra `/etc/hosts` lines (`host:ip` as Docker's ExtraHosts). */
  readonly extraHosts?: readonly string[];
  readonly dns?: readonly string[];
  /** Remove the container once its main process exits (`docker run --rm`); the service does it. */
  readonly autoRemove?: boolean;
  /** What the service does when the main process exits; default `no`. */
  readonly restartPolicy?: RestartPolicy;
  /** The container VM's size; absent fields take the VCH's defaults. */
  readonly resources?: ContainerResources;
  /** The tty's size until the first resize (the CLI sends the terminal's with create). */
  readonly consoleSize?: { readonly rows: number; readonly cols: number };
}

/** Docker's restart policies; `maximumRetryCount` only means something with `on-failure`. */
export interface RestartPolicy {
  readonly name: 'no' | 'always' | 'on-failure' | 'unless-stopped';
  readonly maximumRetryCount?: number;
}

/** A container VM's size, from Docker's HostConfig (NanoCpus → vCPUs, Memory → bytes of RAM). */
export interface ContainerResources {
  /** CPUs in billionths (`--cpus 1.5` → 1_500_000_000); the VM gets ceil(nanoCpus / 1e9) vCPUs. */
  readonly nanoCpus?: number;
  readonly memoryBytes?: number;
}

export interface ContainerCreateResult {
  /** 64 hex. */
  readonly id: string;
  readonly warnings: readonly string[];
}

/** Docker's container states as far as a container VM has them. */
export type ContainerStatus = 'created' | 'running' | 'restarting' | 'exited' | 'removing' | 'dead';

export interface ContainerState {
  readonly status: ContainerStatus;
  readonly running: boolean;
  readonly pid: number;
  readonly exitCode: number;
  /** Why the process did not start or ended badly (`exec: "x": executable file not found in $PATH`). */
  readonly error: string;
  readonly startedAt?: Date;
  readonly finishedAt?: Date;
}

/** The container's effective configuration (the spec merged with the image's config). */
export interface ContainerConfig {
  readonly image: string;
  readonly imageId: string;
  readonly hostname: string;
  readonly domainname: string;
  readonly user: string;
  readonly env: readonly string[];
  readonly cmd: readonly string[];
  readonly entrypoint: readonly string[];
  readonly workingDir: string;
  readonly tty: boolean;
  readonly openStdin: boolean;
  readonly stdinOnce: boolean;
  readonly labels: Readonly<Record<string, string>>;
  readonly stopSignal?: string;
  readonly stopTimeout?: number;
}

export interface ContainerSummary {
  readonly id: string;
  /** With the leading '/': `/web`. */
  readonly name: string;
  readonly image: string;
  readonly imageId: string;
  /** The command line as `docker ps` shows it. */
  readonly command: string;
  readonly created: Date;
  readonly state: ContainerState;
  readonly labels: Readonly<Record<string, string>>;
}

export interface ContainerDetails extends ContainerSummary {
  /** argv[0] and the rest, as Docker's Path and Args. */
  readonly path: string;
  readonly args: readonly string[];
  readonly config: ContainerConfig;
  /** The container VM, for the vSphere administrator (`name-shortid`, moref). */
  readonly vm: { readonly name: string; readonly moref: string };
  /** Host-side settings as created (or updated); absent fields read as Docker's defaults. */
  readonly hostConfig?: {
    readonly autoRemove?: boolean;
    readonly restartPolicy?: RestartPolicy;
    readonly resources?: ContainerResources;
  };
  /** Times the service restarted the container under its restart policy. */
  readonly restartCount?: number;
}

/** One piece of a container's output as kept for `docker logs`. */
export interface ContainerLogEntry {
  readonly stream: 'stdout' | 'stderr';
  readonly time: Date;
  readonly data: Buffer;
}

export interface ContainerLogOptions {
  /** Keep delivering output as it comes until the container stops or `close()`. */
  readonly follow: boolean;
  /** Called with each entry after the backlog, in order (only with follow). */
  readonly onEntry?: (entry: ContainerLogEntry) => void;
}

export interface ContainerLogs {
  /** Output so far, oldest first. Filtering (since, until, tail) is the personality's. */
  readonly backlog: readonly ContainerLogEntry[];
  /** Resolves when no more entries will come (at once without follow). */
  readonly ended: Promise<void>;
  close(): void;
}

/** `docker top`: `ps` output split into a header and rows. */
export interface ContainerTop {
  readonly titles: readonly string[];
  readonly processes: readonly (readonly string[])[];
}

/** One measurement of a running container; the personality turns two into Docker's stats JSON. */
export interface ContainerStatsSample {
  readonly read: Date;
  /** CPU time the container used, in nanoseconds, since it started. */
  readonly cpuTotalNs: number;
  /** CPU time of the whole host/VM since boot, in nanoseconds (Docker's system_cpu_usage). */
  readonly systemCpuNs: number;
  readonly onlineCpus: number;
  readonly memoryUsageBytes: number;
  readonly memoryLimitBytes: number;
  readonly pids: number;
  /** Per interface. */
  readonly networks?: Readonly<Record<string, { readonly rxBytes: number; readonly txBytes: number }>>;
}

/** What `docker update` may change. */
export interface ContainerUpdate {
  readonly restartPolicy?: RestartPolicy;
  readonly resources?: ContainerResources;
}

export interface ContainerListOptions {
  /** Include containers that are not running. */
  readonly all?: boolean;
}

/** Streams to join to a container's main process (or an exec's). */
export interface ContainerStdio {
  /** Fed to the process's stdin (only when the container was created with openStdin). */
  readonly stdin?: Readable;
  readonly stdout?: Writable;
  /** Unused with a tty: the terminal merges stderr into stdout. */
  readonly stderr?: Writable;
}

/** A client joined to a process: resize its terminal, learn its end, let go of it. */
export interface ContainerAttachment {
  readonly tty: boolean;
  resize(rows: number, cols: number): void;
  /** Resolves with Docker's exit code once the process ended and its output was delivered. */
  readonly exitCode: Promise<number>;
  /** Stops forwarding to this client; the process goes on. */
  detach(): void;
}

export interface ContainerExecOptions {
  readonly cmd: readonly string[];
  readonly env?: readonly string[];
  readonly user?: string;
  readonly workingDir?: string;
  readonly tty?: boolean;
  readonly size?: { readonly rows: number; readonly cols: number };
}

/**
 * What happened to a container, whoever caused it (a route, the process ending by itself,
 * a restart policy, `--rm`): the personality turns these into Docker's events. `start`
 * comes before the `die` of the same run.
 */
export type ContainerLifecycleEvent =
  | { readonly action: 'start'; readonly container: ContainerSummary }
  | { readonly action: 'die'; readonly container: ContainerSummary; readonly exitCode: number }
  | { readonly action: 'destroy'; readonly container: ContainerSummary };

/** `docker wait`'s conditions. */
export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

export interface ContainerWaitResult {
  readonly exitCode: number;
  readonly error?: string;
}

export interface ContainerStopOptions {
  /** Default: the container's stop signal, else SIGTERM. */
  readonly signal?: string;
  /** Seconds before the VM is powered off (the kill); default the container's stopTimeout, else 10. */
  readonly timeout?: number;
}

export interface ContainerService {
  create(spec: ContainerCreateSpec): Promise<ContainerCreateResult>;
  /** Starts the main process (cold-booting an exited container's VM first); resolves once it runs. */
  start(nameOrId: string): Promise<void>;
  /** Joins the main process's stdio; before `start`, output from the start on is delivered. */
  attach(
    nameOrId: string,
    stdio: ContainerStdio,
    size?: { readonly rows: number; readonly cols: number },
  ): Promise<ContainerAttachment>;
  exec(nameOrId: string, options: ContainerExecOptions, stdio: ContainerStdio): Promise<ContainerAttachment>;
  resize(nameOrId: string, rows: number, cols: number): Promise<void>;
  wait(nameOrId: string, condition?: WaitCondition): Promise<ContainerWaitResult>;
  stop(nameOrId: string, options?: ContainerStopOptions): Promise<void>;
  kill(nameOrId: string, signal?: string): Promise<void>;
  /** ConflictError while running unless forced. */
  remove(nameOrId: string, options?: { readonly force?: boolean }): Promise<void>;
  inspect(nameOrId: string): Promise<ContainerDetails>;
  list(options?: ContainerListOptions): Promise<readonly ContainerSummary[]>;
  /** Tells `listener` of every start, exit and removal from now on; returns the unsubscribe. */
  subscribe(listener: (event: ContainerLifecycleEvent) => void): () => void;

  // Optional until the execution room implements them; the personality answers 501 without.
  /** Captured output of the main process (`docker logs`). */
  readLogs?(nameOrId: string, options: ContainerLogOptions): Promise<ContainerLogs>;
  /** `newName` without the leading '/'; ConflictError when taken (Docker's text). */
  rename?(nameOrId: string, newName: string): Promise<void>;
  /** `ps` inside the container; `psArgs` as `docker top` passes them (default `-ef`). */
  top?(nameOrId: string, psArgs?: string): Promise<ContainerTop>;
  /** One sample; ConflictError when not running is not required (a stopped container reads zeros). */
  stats?(nameOrId: string): Promise<ContainerStatsSample>;
  update?(nameOrId: string, update: ContainerUpdate): Promise<{ readonly warnings: readonly string[] }>;
}

// ---------------------------------------------------------------------------------------
// The port layer as a whole
// ---------------------------------------------------------------------------------------

/** What the personality is given. `ContainerService` joins when the execution room is built. */
export interface PortLayer {
  readonly images: ImageService;
  readonly system: SystemService;
  /** `POST /auth`; without it the personality answers that login is not implemented. */
  readonly auth?: AuthService;
  /** The execution room; absent until the port layer wires it. */
  readonly containers?: ContainerService;
}
