/**
 * A container VM's size from Docker's `--cpus` / `--memory` (docs/container-vm.md, "Sizes"):
 * whole vCPUs, memory in MiB rounded up to vSphere's multiple of 4, and a floor below which
 * the guest cannot boot its kernel and the tether. An instant clone has its template's size,
 * so a size is also which template a container is cloned from. Pure.
 */
import { type ContainerResources, InvalidParameterError } from '../api';

export interface VmSize {
  readonly cpus: number;
  readonly memoryMB: number;
}

/** What a container gets when `--cpus` / `--memory` are not given: the first template's size. */
export const DEFAULT_SIZE: VmSize = { cpus: 1, memoryMB: 256 };

/**
 * Measured on the box (Debian's cloud kernel, the tether on Node, busybox): 64 MiB does not
 * boot; 96 MiB boots, freezes and runs a shell with ~15 MB left available in the guest;
 * 128 MiB leaves ~46 MB for the container's own processes.
 */
export const MIN_MEMORY_MB = 128;

/** vSphere takes a VM's memory in multiples of 4 MiB. */
const MEMORY_STEP_MB = 4;
const MIB = 1024 * 1024;
const NANO = 1e9;

export interface SizeChoice {
  readonly size: VmSize;
  /** What the caller should be told (rounding), as Docker's create warnings. */
  readonly warnings: readonly string[];
}

function checkCount(value: number | undefined, what: string): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) {
    throw new InvalidParameterError(`${what} must be a non-negative whole number`);
  }
}

/**
 * The VM's size for a container's resources: vCPUs = ceil(NanoCpus / 1e9), memory =
 * ceil(bytes to MiB) rounded up to a multiple of 4; 0 or absent takes the default. A
 * request under the floor is refused (Docker refuses below its own 6 MB likewise).
 */
export function vmSizeOf(resources: ContainerResources | undefined, defaults: VmSize = DEFAULT_SIZE): SizeChoice {
  const nanoCpus = resources?.nanoCpus;
  const memoryBytes = resources?.memoryBytes;
  checkCount(nanoCpus, 'NanoCpus');
  checkCount(memoryBytes, 'Memory');
  const warnings: string[] = [];
  let cpus = defaults.cpus;
  if (nanoCpus) {
    cpus = Math.ceil(nanoCpus / NANO);
    if (cpus * NANO !== nanoCpus) {
      warnings.push(`--cpus ${nanoCpus / NANO}: the container VM gets ${cpus} vCPUs (whole CPUs only)`);
    }
  }
  let memoryMB = defaults.memoryMB;
  if (memoryBytes) {
    if (memoryBytes < MIN_MEMORY_MB * MIB) {
      throw new InvalidParameterError(
        `Minimum memory limit allowed is ${MIN_MEMORY_MB}MB: a container VM needs that much for its kernel and the VCH's init`,
      );
    }
    memoryMB = Math.ceil(memoryBytes / MIB / MEMORY_STEP_MB) * MEMORY_STEP_MB;
    if (memoryMB * MIB !== memoryBytes) {
      warnings.push(
        `--memory ${memoryBytes} bytes: the container VM gets ${memoryMB} MiB (vSphere sizes memory in multiples of ${MEMORY_STEP_MB} MiB)`,
      );
    }
  }
  return { size: { cpus, memoryMB }, warnings };
}

export function sameSize(a: VmSize, b: VmSize): boolean {
  return a.cpus === b.cpus && a.memoryMB === b.memoryMB;
}

/** `2cpu-512mb`: how a template's name tells an administrator its size. */
export function sizeLabel(size: VmSize): string {
  return `${size.cpus}cpu-${size.memoryMB}mb`;
}

export interface ResourceUpdate extends SizeChoice {
  /** What the container's record keeps (and inspect shows): the change over the current values. */
  readonly resources: ContainerResources;
}

/**
 * `docker update --cpus/--memory`: a field given (non-zero) replaces the current one, as
 * dockerd does. A powered-on VM keeps the size it was cloned (or booted) with, so the new
 * size is for its next boot, and the caller is told so.
 */
export function resourcesOf(
  current: ContainerResources | undefined,
  change: ContainerResources | undefined,
  poweredOn: boolean,
): ResourceUpdate {
  const nanoCpus = change?.nanoCpus || current?.nanoCpus;
  const memoryBytes = change?.memoryBytes || current?.memoryBytes;
  const resources: ContainerResources = {
    ...(nanoCpus ? { nanoCpus } : {}),
    ...(memoryBytes ? { memoryBytes } : {}),
  };
  const choice = vmSizeOf(resources);
  const changed = Boolean(change?.nanoCpus || change?.memoryBytes);
  const warnings =
    changed && poweredOn
      ? [
          ...choice.warnings,
          `the container VM's new size (${choice.size.cpus} vCPUs, ${choice.size.memoryMB} MiB) applies from its next start: a running VM keeps its size`,
        ]
      : choice.warnings;
  return { resources, size: choice.size, warnings };
}
