/**
 * The port layer's container types as Docker's JSON (`docker inspect`, `docker ps`,
 * `docker stats`). Every field the CLI or compose reads is present, with Go's zero value
 * where the VCH has nothing to say, because Go clients decode absent objects as nil and
 * some templates then fail.
 */

import type {
  ContainerDetails,
  ContainerState,
  ContainerStatsSample,
  ContainerSummary,
  RestartPolicy,
} from '../../portlayer/api';

/** Go's zero time, which dockerd prints for a container that never started or stopped. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

function time(d: Date | undefined): string {
  return d === undefined ? ZERO_TIME : d.toISOString();
}

/** `Up 5 seconds`, `Exited (0) 2 minutes ago`, `Created`: the Status column of `docker ps`. */
export function humanStatus(state: ContainerState, now: Date = new Date()): string {
  switch (state.status) {
    case 'created':
      return 'Created';
    case 'running':
      return `Up ${humanDuration(now.getTime() - (state.startedAt?.getTime() ?? now.getTime()))}`;
    case 'exited':
      return state.finishedAt === undefined
        ? `Exited (${state.exitCode})`
        : `Exited (${state.exitCode}) ${humanDuration(now.getTime() - state.finishedAt.getTime())} ago`;
    case 'restarting':
      return state.finishedAt === undefined
        ? `Restarting (${state.exitCode})`
        : `Restarting (${state.exitCode}) ${humanDuration(now.getTime() - state.finishedAt.getTime())} ago`;
    case 'removing':
      return 'Removal In Progress';
    case 'dead':
      return 'Dead';
  }
}

/** Docker's `units.HumanDuration`. */
export function humanDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.round(s / 60);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  const d = Math.round(h / 24);
  if (d < 14) return `${d} days`;
  return `${Math.round(d / 7)} weeks`;
}

function restartPolicyJson(p: RestartPolicy | undefined): { Name: string; MaximumRetryCount: number } {
  return { Name: p?.name ?? 'no', MaximumRetryCount: p?.maximumRetryCount ?? 0 };
}

/** `GET /containers/json` entry. */
export function toDockerContainerSummary(c: ContainerSummary, withSize: boolean, now?: Date): Record<string, unknown> {
  return {
    Id: c.id,
    Names: [c.name.startsWith('/') ? c.name : `/${c.name}`],
    Image: c.image,
    ImageID: c.imageId,
    Command: c.command,
    Created: Math.floor(c.created.getTime() / 1000),
    Ports: [],
    ...(withSize ? { SizeRw: 0, SizeRootFs: 0 } : {}),
    Labels: c.labels,
    State: c.state.status,
    Status: humanStatus(c.state, now),
    HostConfig: { NetworkMode: 'bridge' },
    NetworkSettings: { Networks: {} },
    Mounts: [],
  };
}

function stateJson(s: ContainerState): Record<string, unknown> {
  return {
    Status: s.status,
    Running: s.running,
    Paused: false,
    Restarting: s.status === 'restarting',
    OOMKilled: false,
    Dead: s.status === 'dead',
    Pid: s.pid,
    ExitCode: s.exitCode,
    Error: s.error,
    StartedAt: time(s.startedAt),
    FinishedAt: time(s.finishedAt),
  };
}

/** `GET /containers/{id}/json`. */
export function toDockerContainerInspect(c: ContainerDetails, withSize: boolean): Record<string, unknown> {
  const cfg = c.config;
  const host = c.hostConfig ?? {};
  const name = c.name.startsWith('/') ? c.name : `/${c.name}`;
  return {
    Id: c.id,
    Created: c.created.toISOString(),
    Path: c.path,
    Args: c.args,
    State: stateJson(c.state),
    Image: c.imageId,
    ResolvConfPath: '',
    HostnamePath: '',
    HostsPath: '',
    LogPath: '',
    Name: name,
    RestartCount: c.restartCount ?? 0,
    Driver: 'vsphere',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    HostConfig: {
      Binds: null,
      ContainerIDFile: '',
      LogConfig: { Type: 'json-file', Config: {} },
      NetworkMode: 'bridge',
      PortBindings: {},
      RestartPolicy: restartPolicyJson(host.restartPolicy),
      AutoRemove: host.autoRemove ?? false,
      VolumeDriver: '',
      VolumesFrom: null,
      CapAdd: null,
      CapDrop: null,
      Dns: [],
      DnsOptions: [],
      DnsSearch: [],
      ExtraHosts: null,
      Privileged: false,
      PublishAllPorts: false,
      ReadonlyRootfs: false,
      Isolation: '',
      NanoCpus: host.resources?.nanoCpus ?? 0,
      Memory: host.resources?.memoryBytes ?? 0,
      CpuShares: 0,
      MemorySwap: 0,
      ConsoleSize: [0, 0],
    },
    GraphDriver: { Name: 'vsphere', Data: { VM: c.vm.name, Moref: c.vm.moref } },
    ...(withSize ? { SizeRw: 0, SizeRootFs: 0 } : {}),
    Mounts: [],
    Config: {
      Hostname: cfg.hostname,
      Domainname: cfg.domainname,
      User: cfg.user,
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      Tty: cfg.tty,
      OpenStdin: cfg.openStdin,
      StdinOnce: cfg.stdinOnce,
      Env: cfg.env,
      Cmd: cfg.cmd.length === 0 ? null : cfg.cmd,
      Image: cfg.image,
      Volumes: null,
      WorkingDir: cfg.workingDir,
      Entrypoint: cfg.entrypoint.length === 0 ? null : cfg.entrypoint,
      OnBuild: null,
      Labels: cfg.labels,
      ...(cfg.stopSignal !== undefined ? { StopSignal: cfg.stopSignal } : {}),
      ...(cfg.stopTimeout !== undefined ? { StopTimeout: cfg.stopTimeout } : {}),
    },
    NetworkSettings: {
      Bridge: '',
      SandboxID: '',
      SandboxKey: '',
      Ports: {},
      HairpinMode: false,
      LinkLocalIPv6Address: '',
      LinkLocalIPv6PrefixLen: 0,
      SecondaryIPAddresses: null,
      SecondaryIPv6Addresses: null,
      EndpointID: '',
      Gateway: '',
      GlobalIPv6Address: '',
      GlobalIPv6PrefixLen: 0,
      IPAddress: '',
      IPPrefixLen: 0,
      IPv6Gateway: '',
      MacAddress: '',
      Networks: {},
    },
  };
}

/**
 * Docker's stats JSON from this sample and the one before (`precpu_stats`); the CLI's CPU %
 * is the delta of container CPU over the delta of system CPU times online CPUs.
 */
export function toDockerStats(
  c: { readonly id: string; readonly name: string },
  now: ContainerStatsSample,
  before: ContainerStatsSample | undefined,
): Record<string, unknown> {
  const cpu = (s: ContainerStatsSample | undefined) => ({
    cpu_usage: { total_usage: s?.cpuTotalNs ?? 0, usage_in_kernelmode: 0, usage_in_usermode: s?.cpuTotalNs ?? 0 },
    system_cpu_usage: s?.systemCpuNs ?? 0,
    online_cpus: s?.onlineCpus ?? 0,
    throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
  });
  const networks: Record<string, Record<string, number>> = {};
  for (const [name, n] of Object.entries(now.networks ?? {})) {
    networks[name] = {
      rx_bytes: n.rxBytes,
      rx_packets: 0,
      rx_errors: 0,
      rx_dropped: 0,
      tx_bytes: n.txBytes,
      tx_packets: 0,
      tx_errors: 0,
      tx_dropped: 0,
    };
  }
  return {
    name: c.name.startsWith('/') ? c.name : `/${c.name}`,
    id: c.id,
    read: now.read.toISOString(),
    preread: before?.read.toISOString() ?? ZERO_TIME,
    pids_stats: { current: now.pids },
    blkio_stats: {
      io_service_bytes_recursive: null,
      io_serviced_recursive: null,
      io_queue_recursive: null,
      io_service_time_recursive: null,
      io_wait_time_recursive: null,
      io_merged_recursive: null,
      io_time_recursive: null,
      sectors_recursive: null,
    },
    num_procs: 0,
    storage_stats: {},
    cpu_stats: cpu(now),
    precpu_stats: cpu(before),
    memory_stats: { usage: now.memoryUsageBytes, limit: now.memoryLimitBytes, stats: {} },
    networks,
  };
}
