/**
 * Payloads of the backchannel's frames. The tether and the VCH side both import these;
 * nothing here may import anything else (the tether must start fast in a guest).
 */
import { ProtocolError } from './frames';

export const PROTOCOL_VERSION = 1;

/** Who is on the other end of a connection: the attach server keys connections by vmId. */
export interface Hello {
  protocol: number;
  /** The VM's identity (its instance UUID or moref, as the VCH named it in the spec). */
  vmId: string;
  containerId?: string;
  /** The tether's pid in the guest and its version, for diagnostics. */
  pid?: number;
  tether?: string;
}

export interface HelloAck {
  protocol: number;
}

/** A process to run, with Docker's meaning for every field. */
export interface ProcessSpec {
  argv: string[];
  /** KEY=VALUE strings, as in Docker's Config.Env. */
  env?: string[];
  /** Docker's `user`: "", "name", "uid", "name:group", "uid:gid". */
  user?: string;
  cwd?: string;
  tty?: boolean;
  rows?: number;
  cols?: number;
}

export type OpenRequest =
  /** A new process with its own stdio (docker exec). */
  | { kind: 'exec'; process: ProcessSpec; window: number }
  /** The container's main process; the first attach starts it (docker start / attach). */
  | { kind: 'attach'; window: number; rows?: number; cols?: number };

export interface OpenOk {
  pid: number;
  tty: boolean;
  /** Credit the VCH side may spend on stdin Data. */
  window: number;
}

/** The process never started: e.g. a missing executable (exit code 127 as Docker says). */
export interface OpenFail {
  message: string;
  exitCode: number;
}

export interface ExitStatus {
  /** Docker's exit code: the process's own, or 128 + n after signal n. */
  exitCode: number;
  /** The terminating signal's name, when there was one. */
  signal?: string;
}

export function encodeJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/** Parses a JSON payload whose shape `check` confirms; anything else is a ProtocolError. */
export function decodeJson<T>(payload: Buffer, what: string, check: (v: Record<string, unknown>) => boolean): T {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new ProtocolError(`${what}: not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ProtocolError(`${what}: not an object`);
  if (!check(value as Record<string, unknown>)) throw new ProtocolError(`${what}: unexpected shape`);
  return value as T;
}

export const isHello = (v: Record<string, unknown>): boolean =>
  typeof v.protocol === 'number' && typeof v.vmId === 'string' && v.vmId.length > 0;
export const isHelloAck = (v: Record<string, unknown>): boolean => typeof v.protocol === 'number';
export const isOpenRequest = (v: Record<string, unknown>): boolean => {
  if (typeof v.window !== 'number') return false;
  if (v.kind === 'attach') return true;
  if (v.kind !== 'exec' || typeof v.process !== 'object' || v.process === null) return false;
  const argv = (v.process as Record<string, unknown>).argv;
  return Array.isArray(argv) && argv.length > 0 && argv.every((a) => typeof a === 'string');
};
export const isOpenOk = (v: Record<string, unknown>): boolean =>
  typeof v.pid === 'number' && typeof v.window === 'number';
export const isOpenFail = (v: Record<string, unknown>): boolean =>
  typeof v.message === 'string' && typeof v.exitCode === 'number';
export const isExitStatus = (v: Record<string, unknown>): boolean => typeof v.exitCode === 'number';

export function encodeResize(rows: number, cols: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(clampDimension(rows), 0);
  b.writeUInt16BE(clampDimension(cols), 2);
  return b;
}

export function decodeResize(payload: Buffer): { rows: number; cols: number } {
  if (payload.length !== 4) throw new ProtocolError('resize: bad length');
  return { rows: payload.readUInt16BE(0), cols: payload.readUInt16BE(2) };
}

export function encodeWindow(bytes: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(bytes, 0);
  return b;
}

export function decodeWindow(payload: Buffer): number {
  if (payload.length !== 4) throw new ProtocolError('window: bad length');
  return payload.readUInt32BE(0);
}

function clampDimension(n: number): number {
  return Math.max(0, Math.min(0xffff, Math.floor(n)));
}
