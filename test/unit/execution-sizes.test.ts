/** The container VM size rules (sizes.ts) and the template names they give. */
import { InvalidParameterError } from '../../src/portlayer/api';
import { DEFAULT_SIZE, MIN_MEMORY_MB, resourcesOf, sizeLabel, vmSizeOf } from '../../src/portlayer/execution/sizes';
import { templateName } from '../../src/portlayer/execution/template';

const MIB = 1024 * 1024;

describe('vmSizeOf', () => {
  it('takes the default for absent or zero values', () => {
    expect(vmSizeOf(undefined)).toEqual({ size: DEFAULT_SIZE, warnings: [] });
    expect(vmSizeOf({ nanoCpus: 0, memoryBytes: 0 })).toEqual({ size: DEFAULT_SIZE, warnings: [] });
    expect(vmSizeOf({ memoryBytes: 512 * MIB }).size).toEqual({ cpus: DEFAULT_SIZE.cpus, memoryMB: 512 });
    expect(vmSizeOf({ nanoCpus: 2e9 }).size).toEqual({ cpus: 2, memoryMB: DEFAULT_SIZE.memoryMB });
  });

  it('gives whole vCPUs, rounding up, and says so when it rounds', () => {
    expect(vmSizeOf({ nanoCpus: 2e9 })).toEqual({ size: { cpus: 2, memoryMB: 256 }, warnings: [] });
    const half = vmSizeOf({ nanoCpus: 1.5e9 });
    expect(half.size.cpus).toBe(2);
    expect(half.warnings).toEqual(['--cpus 1.5: the container VM gets 2 vCPUs (whole CPUs only)']);
    expect(vmSizeOf({ nanoCpus: 10_000_000 }).size.cpus).toBe(1);
  });

  it('rounds memory up to whole MiB and then to a multiple of 4, and says so', () => {
    expect(vmSizeOf({ memoryBytes: 512 * MIB })).toEqual({ size: { cpus: 1, memoryMB: 512 }, warnings: [] });
    expect(vmSizeOf({ memoryBytes: 130 * MIB }).size.memoryMB).toBe(132);
    expect(vmSizeOf({ memoryBytes: 512 * MIB + 1 }).size.memoryMB).toBe(516);
    expect(vmSizeOf({ memoryBytes: 1e9 }).size.memoryMB).toBe(956); // 953.67 MiB → 954 → 956
    expect(vmSizeOf({ memoryBytes: 130 * MIB }).warnings[0]).toMatch(/gets 132 MiB .*multiples of 4 MiB/);
  });

  it(`refuses memory below ${MIN_MEMORY_MB} MiB with a message naming the minimum`, () => {
    expect(vmSizeOf({ memoryBytes: MIN_MEMORY_MB * MIB }).size.memoryMB).toBe(MIN_MEMORY_MB);
    const tooSmall = () => vmSizeOf({ memoryBytes: MIN_MEMORY_MB * MIB - 1 });
    expect(tooSmall).toThrow(InvalidParameterError);
    expect(tooSmall).toThrow(`Minimum memory limit allowed is ${MIN_MEMORY_MB}MB`);
  });

  it('refuses values that are not counts', () => {
    expect(() => vmSizeOf({ nanoCpus: -1 })).toThrow(InvalidParameterError);
    expect(() => vmSizeOf({ memoryBytes: 1.5 })).toThrow('Memory must be a non-negative whole number');
  });
});

describe('template names', () => {
  it('keep the default name for the default size and name the size otherwise', () => {
    expect(templateName('vch1')).toBe('vch1-template');
    expect(templateName('vch1', DEFAULT_SIZE)).toBe('vch1-template');
    expect(templateName('vch1', { cpus: 2, memoryMB: 512 })).toBe('vch1-template-2cpu-512mb');
    expect(sizeLabel({ cpus: 1, memoryMB: 132 })).toBe('1cpu-132mb');
  });
});

describe('resourcesOf (docker update)', () => {
  it('lays the change over the current values; zero keeps the current one', () => {
    const u = resourcesOf({ nanoCpus: 2e9, memoryBytes: 512 * MIB }, { memoryBytes: 1024 * MIB }, false);
    expect(u.resources).toEqual({ nanoCpus: 2e9, memoryBytes: 1024 * MIB });
    expect(u.size).toEqual({ cpus: 2, memoryMB: 1024 });
    expect(u.warnings).toEqual([]);
    expect(resourcesOf(undefined, { nanoCpus: 0 }, false).resources).toEqual({});
  });

  it('warns that a powered-on VM takes its new size at its next start', () => {
    const u = resourcesOf(undefined, { nanoCpus: 2e9 }, true);
    expect(u.warnings).toEqual([
      "the container VM's new size (2 vCPUs, 256 MiB) applies from its next start: a running VM keeps its size",
    ]);
    expect(resourcesOf({ nanoCpus: 2e9 }, undefined, true).warnings).toEqual([]);
  });

  it('validates as create does', () => {
    expect(() => resourcesOf(undefined, { memoryBytes: 64 * MIB }, false)).toThrow(/Minimum memory limit allowed/);
  });
});
