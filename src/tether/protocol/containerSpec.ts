/**
 * `guestinfo.vch.spec`: what the port layer tells a container VM's tether to be
 * (docs/container-vm.md). Shared by the port layer (which writes it) and the tether (which
 * parses it); imports nothing but the protocol's own types, so the guest loads it fast.
 */
import type { ProcessSpec } from './messages';

export interface ContainerVmSpec {
  /** The container's id, 64 hex. */
  id: string;
  /** Without the leading '/'. */
  name: string;
  hostname: string;
  domainname?: string;
  process: ProcessSpec;
  openStdin: boolean;
  stdinOnce: boolean;
  /** SCSI units of the image's layer disks, bottom layer first. */
  layers: { unit: number; diffId: string }[];
  rwDisk: { unit: number };
  /** Extra /etc/hosts lines. */
  hosts?: string[];
  dns?: string[];
  stopSignal?: string;
}

export class ContainerSpecError extends Error {
  override name = 'ContainerSpecError';
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fail(what: string): never {
  throw new ContainerSpecError(`container spec: ${what}`);
}

function str(o: Obj, key: string, optional = false): string | undefined {
  const v = o[key];
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'string') fail(`${key} must be a string`);
  return v;
}

function strList(o: Obj, key: string): string[] | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) fail(`${key} must be a list of strings`);
  return v as string[];
}

function unit(v: unknown, where: string): number {
  // vSphere SCSI units 0–15 per controller, 7 being the controller itself; more buses add 16 each.
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 63 || v % 16 === 7) {
    fail(`${where}.unit must be a SCSI unit number`);
  }
  return v;
}

function processSpec(v: unknown): ProcessSpec {
  if (!isObj(v)) fail('process must be an object');
  const argv = strList(v, 'argv');
  if (!argv || argv.length === 0) fail('process.argv must be a non-empty list of strings');
  const p: ProcessSpec = { argv };
  const env = strList(v, 'env');
  if (env) p.env = env;
  const user = str(v, 'user', true);
  if (user !== undefined) p.user = user;
  const cwd = str(v, 'cwd', true);
  if (cwd !== undefined) p.cwd = cwd;
  if (v.tty !== undefined) {
    if (typeof v.tty !== 'boolean') fail('process.tty must be a boolean');
    p.tty = v.tty;
  }
  for (const k of ['rows', 'cols'] as const) {
    const n = v[k];
    if (n === undefined) continue;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) fail(`process.${k} must be a count`);
    p[k] = n;
  }
  return p;
}

/** Parses and checks `guestinfo.vch.spec`; throws ContainerSpecError saying what is wrong. */
export function parseContainerVmSpec(text: string): ContainerVmSpec {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    fail(`not JSON (${(err as Error).message}): ${text.slice(0, 60)}`);
  }
  if (!isObj(v)) fail('not an object');
  const id = str(v, 'id') as string;
  if (!/^[0-9a-f]{64}$/.test(id)) fail('id must be 64 lowercase hex');
  if (typeof v.openStdin !== 'boolean' || typeof v.stdinOnce !== 'boolean') {
    fail('openStdin and stdinOnce must be booleans');
  }
  if (!Array.isArray(v.layers)) fail('layers must be a list');
  const layers = v.layers.map((l: unknown, i: number) => {
    if (!isObj(l) || typeof l.diffId !== 'string') fail(`layers[${i}] must be {unit, diffId}`);
    return { unit: unit(l.unit, `layers[${i}]`), diffId: l.diffId };
  });
  if (!isObj(v.rwDisk)) fail('rwDisk must be {unit}');
  const rwDisk = { unit: unit(v.rwDisk.unit, 'rwDisk') };
  const units = [...layers.map((l) => l.unit), rwDisk.unit];
  if (new Set(units).size !== units.length) fail('two disks on one SCSI unit');
  const spec: ContainerVmSpec = {
    id,
    name: str(v, 'name') as string,
    hostname: str(v, 'hostname') as string,
    process: processSpec(v.process),
    openStdin: v.openStdin,
    stdinOnce: v.stdinOnce,
    layers,
    rwDisk,
  };
  const domainname = str(v, 'domainname', true);
  if (domainname !== undefined) spec.domainname = domainname;
  const hosts = strList(v, 'hosts');
  if (hosts) spec.hosts = hosts;
  const dns = strList(v, 'dns');
  if (dns) spec.dns = dns;
  const stopSignal = str(v, 'stopSignal', true);
  if (stopSignal !== undefined) spec.stopSignal = stopSignal;
  return spec;
}
