/**
 * Runs the vcsim binary as a child process. Its stdin is a pipe we keep open: when this Node
 * process dies, the pipe closes and vcsim exits on EOF, so no simulator is ever orphaned.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { ensureSimulatorBinary } from './build';

export interface SimulatorOptions {
  /** Address to listen on; default 127.0.0.1. */
  listen?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** HTTPS with a fresh self-signed certificate; default true. */
  tls?: boolean;
  /** Enforced credentials; without them vcsim accepts any non-empty user and password. */
  username?: string;
  password?: string;
  datacenters?: number;
  /** Clusters per datacenter. */
  clusters?: number;
  hostsPerCluster?: number;
  /** Standalone hosts per datacenter. */
  standaloneHosts?: number;
  /** About this many VMs in all (rounded up to fill every cluster and standalone host evenly). */
  vms?: number;
  /** Local datastores per datacenter. */
  datastores?: number;
  /** Distributed port groups per datacenter. */
  portgroups?: number;
  /** Where the datastores' folders go (kept on exit); default a temp dir vcsim removes. */
  datastoreDir?: string;
  /** Power on the model's VMs; default true. */
  autostart?: boolean;
  /** Discard vcsim's own log lines. */
  quiet?: boolean;
  /** A prebuilt binary; default ensureSimulatorBinary(). */
  binary?: string;
  /** How long to wait for the ready line; default 120 s (a 2000-VM model takes ~5 s). */
  readyTimeoutMs?: number;
  /** Each stderr chunk, for callers who want to show vcsim's log. */
  onStderr?: (chunk: string) => void;
  /** Progress messages (building, starting). */
  log?: (msg: string) => void;
}

export interface SimulatorDatastore {
  name: string;
  datacenter: string;
  /** Absolute path of the folder backing the datastore. */
  path: string;
}

/** The JSON line vcsim prints when ready. */
export interface SimulatorInfo {
  /** e.g. https://127.0.0.1:PORT/sdk */
  url: string;
  /** SHA-1 of the certificate as vCenter shows it (AA:BB:…); absent without TLS. */
  thumbprint?: string;
  thumbprintSha256?: string;
  username: string;
  password: string;
  datastores: SimulatorDatastore[];
  vms: number;
  hosts: number;
  /** Time from vcsim's start to ready, as vcsim measured it. */
  startupMs: number;
}

export interface RunningSimulator extends SimulatorInfo {
  pid: number;
  /** The last few KB vcsim wrote to stderr. */
  stderrTail(): string;
  /** Resolves with the exit code (or signal name) when vcsim exits. */
  readonly exited: Promise<number | string>;
  /** Ends vcsim (stdin EOF and SIGTERM, SIGKILL after 5 s) and waits for it to exit. */
  stop(): Promise<void>;
}

const STDERR_TAIL_BYTES = 16 * 1024;

export function simulatorArgs(opts: SimulatorOptions): string[] {
  const flags: Array<[string, string | number | boolean | undefined]> = [
    ['listen', opts.listen],
    ['port', opts.port],
    ['tls', opts.tls],
    ['username', opts.username],
    ['password', opts.password],
    ['datacenters', opts.datacenters],
    ['clusters', opts.clusters],
    ['hosts-per-cluster', opts.hostsPerCluster],
    ['standalone-hosts', opts.standaloneHosts],
    ['vms', opts.vms],
    ['datastores', opts.datastores],
    ['portgroups', opts.portgroups],
    ['datastore-dir', opts.datastoreDir],
    ['autostart', opts.autostart],
    ['quiet', opts.quiet],
  ];
  // Go's flag package needs --bool=false in one word; --name=value works for every kind.
  return flags.filter(([, v]) => v !== undefined).map(([k, v]) => `--${k}=${String(v)}`);
}

function isSimulatorInfo(v: unknown): v is SimulatorInfo {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return typeof o.url === 'string' && typeof o.username === 'string' && Array.isArray(o.datastores);
}

export async function startSimulator(opts: SimulatorOptions = {}): Promise<RunningSimulator> {
  const binary = opts.binary ?? (await ensureSimulatorBinary({ log: opts.log }));
  const child = spawn(binary, simulatorArgs(opts), { stdio: ['pipe', 'pipe', 'pipe'] });

  let tail = '';
  child.stderr.setEncoding('utf8');
  // Always drained: vcsim logs a lot, and an unread pipe would block it.
  child.stderr.on('data', (chunk: string) => {
    tail = (tail + chunk).slice(-STDERR_TAIL_BYTES);
    opts.onStderr?.(chunk);
  });
  // EPIPE when vcsim is gone: nothing to do, 'exit' reports it.
  child.stdin.on('error', () => {});

  const exited = new Promise<number | string>((resolve) => {
    // 'close', not 'exit': by then stderr is fully read, so a failure message has the whole tail.
    child.on('close', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  const info = await waitReady(child, exited, opts.readyTimeoutMs ?? 120_000, () => tail);
  opts.log?.(`vcsim ready at ${info.url} (${info.vms} VMs, ${info.startupMs} ms)`);

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.stdin.end();
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    })();
    return stopping;
  };

  return { ...info, pid: child.pid ?? -1, stderrTail: () => tail, exited, stop };
}

function waitReady(
  child: ChildProcessWithoutNullStreams,
  exited: Promise<number | string>,
  timeoutMs: number,
  tail: () => string,
): Promise<SimulatorInfo> {
  return new Promise<SimulatorInfo>((resolve, reject) => {
    let settled = false;
    const fail = (msg: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      const t = tail().trim().split('\n').slice(-20).join('\n');
      reject(new Error(t ? `${msg}; stderr:\n${t}` : msg));
    };
    const timer = setTimeout(() => fail(`vcsim not ready after ${timeoutMs} ms`), timeoutMs);
    child.on('error', (err) => fail(`vcsim failed to start: ${err.message}`));
    void exited.then((code) => fail(`vcsim exited (${code}) before it was ready`));

    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        fail(`vcsim printed something other than its ready line: ${line.slice(0, 200)}`);
        return;
      }
      if (!isSimulatorInfo(parsed)) {
        fail(`vcsim's ready line lacks url/username/datastores: ${line.slice(0, 200)}`);
        return;
      }
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(parsed);
    });
    // Later stdout is not ours to parse, but must be read so vcsim never blocks on it.
    lines.on('line', () => {});
  });
}
