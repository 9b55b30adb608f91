import { readFile } from 'node:fs/promises';
import type { ExitStatus, ProcessSpec } from './protocol/messages';

/** What the tether is told to run: from guestinfo in a VM, from a file on the host. */
export interface ContainerSpec {
  /** The VM's identity, sent in the backchannel hello. */
  vmId: string;
  containerId?: string;
  process: ProcessSpec;
  /** Docker's OpenStdin: false gives the main process no input (undefined: attaches feed it). */
  openStdin?: boolean;
}

/**
 * Where the spec comes from. In a VM this is the guestinfo channel (vmware-rpctool on
 * ESXi, a virtio-serial port on the simulator host); that implementation comes with the
 * wiring into the VM. Kept this small so the tether core does not care which.
 */
export interface SpecSource {
  read(): Promise<ContainerSpec>;
}

/** Where the tether reports status (guestinfo in a VM); optional on the host. */
export interface StatusSink {
  started(pid: number): Promise<void>;
  /** `error` says why the process never started, when it did not. */
  exited(status: ExitStatus & { error?: string }): Promise<void>;
}

export class JsonFileSpecSource implements SpecSource {
  constructor(private readonly path: string) {}

  async read(): Promise<ContainerSpec> {
    const value: unknown = JSON.parse(await readFile(this.path, 'utf8'));
    if (!isContainerSpec(value)) throw new Error(`${this.path}: not a container spec`);
    return value;
  }
}

export function isContainerSpec(value: unknown): value is ContainerSpec {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  if (typeof v.vmId !== 'string' || typeof v.process !== 'object' || v.process === null) return false;
  const argv = (v.process as Record<string, unknown>).argv;
  return Array.isArray(argv) && argv.length > 0 && argv.every((a) => typeof a === 'string');
}
