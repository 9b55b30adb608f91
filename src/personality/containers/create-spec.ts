/**
 * `POST /containers/create`'s body (Docker's Config with HostConfig inside) checked field
 * by field and turned into the port layer's ContainerCreateSpec. Every check throws a 400
 * naming the field, so a bad request never reaches the service; fields the VCH does not
 * act on are accepted and ignored, as a client cannot tell them apart anyway.
 */

import {
  type ContainerCreateSpec,
  type ContainerResources,
  InvalidParameterError,
  type RestartPolicy,
} from '../../portlayer/api';
import { parseSignal } from './signals';

type Json = Record<string, unknown>;

export function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optString(obj: Json, key: string, where: string): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new InvalidParameterError(`${where}${key} must be a string`);
  return v;
}

/**
 * Hostname and Domainname become the container VM's kernel's, which takes at most 64 bytes
 * (sethostname's limit) and can hold no NUL: refused at create rather than failing its start.
 */
function optKernelName(obj: Json, key: string): string | undefined {
  const v = optString(obj, key, '');
  if (v !== undefined && (Buffer.byteLength(v) > 64 || v.includes('\0')))
    throw new InvalidParameterError(`invalid ${key} ${JSON.stringify(v.slice(0, 80))}: at most 64 bytes, no NUL`);
  return v || undefined;
}

function optBool(obj: Json, key: string, where: string): boolean | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new InvalidParameterError(`${where}${key} must be a boolean`);
  return v;
}

function optNumber(obj: Json, key: string, where: string): number | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new InvalidParameterError(`${where}${key} must be a number`);
  return v;
}

/** Docker's strslice: a string or a list of strings; null/absent is undefined. */
function optStrings(obj: Json, key: string, where: string): string[] | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((x): x is string => typeof x === 'string')) return v;
  throw new InvalidParameterError(`${where}${key} must be a list of strings`);
}

function optLabels(obj: Json, key: string): Record<string, string> | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (!isRecord(v) || !Object.values(v).every((x) => typeof x === 'string'))
    throw new InvalidParameterError(`${key} must be a map of strings`);
  return v as Record<string, string>;
}

const RESTART_NAMES: ReadonlySet<string> = new Set(['', 'no', 'always', 'on-failure', 'unless-stopped']);

/** HostConfig.RestartPolicy, with dockerd's validation messages. */
export function parseRestartPolicy(value: unknown): RestartPolicy | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) throw new InvalidParameterError('HostConfig.RestartPolicy must be an object');
  const name = optString(value, 'Name', 'RestartPolicy.') ?? '';
  const retries = optNumber(value, 'MaximumRetryCount', 'RestartPolicy.') ?? 0;
  if (!RESTART_NAMES.has(name))
    throw new InvalidParameterError(
      `invalid restart policy: unknown policy '${name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`,
    );
  if (!Number.isInteger(retries) || retries < 0)
    throw new InvalidParameterError('invalid restart policy: maximum retry count cannot be negative');
  if (retries > 0 && name !== 'on-failure')
    throw new InvalidParameterError(`invalid restart policy: maximum retry count can only be used with 'on-failure'`);
  const policy = (name === '' ? 'no' : name) as RestartPolicy['name'];
  return policy === 'on-failure' ? { name: policy, maximumRetryCount: retries } : { name: policy };
}

/** NanoCpus and Memory (the knobs a container VM has); the rest of Resources is ignored. */
export function parseResources(hostConfig: Json): ContainerResources | undefined {
  const nanoCpus = optNumber(hostConfig, 'NanoCpus', 'HostConfig.');
  const memory = optNumber(hostConfig, 'Memory', 'HostConfig.');
  if (nanoCpus !== undefined && (nanoCpus < 0 || !Number.isInteger(nanoCpus)))
    throw new InvalidParameterError('Range of CPUs is from 0.01 to the number of CPUs available');
  if (nanoCpus !== undefined && nanoCpus > 0 && nanoCpus < 10_000_000)
    throw new InvalidParameterError('Range of CPUs is from 0.01 to the number of CPUs available');
  if (memory !== undefined && (memory < 0 || !Number.isInteger(memory)))
    throw new InvalidParameterError('invalid memory limit: must be a non-negative number of bytes');
  if (memory !== undefined && memory > 0 && memory < 6 * 1024 * 1024)
    throw new InvalidParameterError('Minimum memory limit allowed is 6MB');
  const out: { nanoCpus?: number; memoryBytes?: number } = {};
  if (nanoCpus) out.nanoCpus = nanoCpus;
  if (memory) out.memoryBytes = memory;
  return Object.keys(out).length === 0 ? undefined : out;
}

function withDefined<T extends object>(obj: T): T {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as T;
}

/** `ConsoleSize` of a create or exec body: `[height, width]`, `[0, 0]` for none. */
export function parseConsoleSize(value: unknown): { rows: number; cols: number } | undefined {
  if (value === undefined || value === null) return undefined;
  if (
    !Array.isArray(value) ||
    value.length !== 2 ||
    !value.every((n): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0)
  )
    throw new InvalidParameterError('ConsoleSize must be [height, width]');
  return value[0] === 0 && value[1] === 0 ? undefined : { rows: value[0], cols: value[1] };
}

/** The create body → spec. `name` is the already validated `?name=` (or undefined). */
export function parseCreateBody(body: unknown, name: string | undefined): ContainerCreateSpec {
  if (body === undefined || body === null || (isRecord(body) && Object.keys(body).length === 0))
    throw new InvalidParameterError('config cannot be empty in order to create a container');
  if (!isRecord(body)) throw new InvalidParameterError('container config must be a JSON object');
  const image = optString(body, 'Image', '');
  if (image === undefined || image === '') throw new InvalidParameterError('no image specified');
  const hostConfig = body.HostConfig ?? {};
  if (!isRecord(hostConfig)) throw new InvalidParameterError('HostConfig must be an object');
  const env = optStrings(body, 'Env', '');
  for (const e of env ?? []) {
    if (e.startsWith('=')) throw new InvalidParameterError(`invalid environment variable: ${e}`);
  }
  const stopSignal = optString(body, 'StopSignal', '');
  if (stopSignal !== undefined && stopSignal !== '') parseSignal(stopSignal);
  const stopTimeout = optNumber(body, 'StopTimeout', '');
  if (stopTimeout !== undefined && (!Number.isInteger(stopTimeout) || stopTimeout < -1))
    throw new InvalidParameterError('StopTimeout must be a whole number of seconds, -1 to wait forever');
  const autoRemove = optBool(hostConfig, 'AutoRemove', 'HostConfig.');
  const restartPolicy = parseRestartPolicy(hostConfig.RestartPolicy);
  if (autoRemove && restartPolicy !== undefined && restartPolicy.name !== 'no')
    throw new InvalidParameterError("can't create 'AutoRemove' container with restart policy");
  return withDefined<ContainerCreateSpec>({
    image,
    name,
    cmd: optStrings(body, 'Cmd', ''),
    entrypoint: optStrings(body, 'Entrypoint', ''),
    env,
    workingDir: optString(body, 'WorkingDir', '') || undefined,
    user: optString(body, 'User', '') || undefined,
    hostname: optKernelName(body, 'Hostname'),
    domainname: optKernelName(body, 'Domainname'),
    tty: optBool(body, 'Tty', ''),
    openStdin: optBool(body, 'OpenStdin', ''),
    stdinOnce: optBool(body, 'StdinOnce', ''),
    labels: optLabels(body, 'Labels'),
    stopSignal: stopSignal || undefined,
    stopTimeout,
    extraHosts: optStrings(hostConfig, 'ExtraHosts', 'HostConfig.'),
    dns: optStrings(hostConfig, 'Dns', 'HostConfig.'),
    autoRemove,
    restartPolicy,
    resources: parseResources(hostConfig),
    consoleSize: parseConsoleSize(hostConfig.ConsoleSize),
  });
}
