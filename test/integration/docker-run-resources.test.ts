/**
 * `docker run --cpus N --memory M` end to end (docs/container-vm.md, "Sizes"): the real
 * docker CLI against the box; the container VM's size, its template of that size (made
 * once, even for concurrent first runs, then reused) and the refusal of a size too small.
 * Templates and VM hardware are read through vSphere, not through the VCH.
 */

import type { VimClient } from '../../src/vsphere/client';
import { PropertyCollector } from '../../src/vsphere/propertyCollector';
import type { VimContext } from '../../src/vsphere/tasks';
import { UpdatesLoop } from '../../src/vsphere/updates';
import type { ManagedObjectReference } from '../../src/vsphere/vim25/values';
import { destroyVM, powerOff } from '../../src/vsphere/virtualMachine';
import { type RunningBox, startTestBox } from '../helpers/box';
import { type DockerRunResult, dockerAvailable, runDocker } from '../helpers/dockerCli';
import { connectToSimulator } from '../helpers/vsphereSession';

jest.setTimeout(180_000);

const MIB = 1024 * 1024;
const SIZED = '--cpus 2 --memory 512m'.split(' ');
let box: RunningBox;
let vim: VimClient;
let ctx: VimContext;
let pc: PropertyCollector;
const timings: string[] = [];

function docker(args: readonly string[]): Promise<DockerRunResult> {
  return runDocker(args, { host: box.dockerHost, timeoutMs: 150_000 });
}

async function timedDocker(label: string, args: readonly string[]): Promise<DockerRunResult & { ms: number }> {
  const t0 = Date.now();
  const r = await docker(args);
  const ms = Date.now() - t0;
  timings.push(`${label}: ${ms} ms`);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}:\n${r.stderr}\n${r.stdout}`);
  return { ...r, ms };
}

interface VmHardware {
  readonly ref: ManagedObjectReference;
  readonly name: string;
  readonly numCPU: number;
  readonly memoryMB: number;
}

async function vms(): Promise<VmHardware[]> {
  return pc.withContainerView(vim.serviceContent.rootFolder, ['VirtualMachine'], async (view) =>
    (await pc.retrieve(view, 'VirtualMachine', ['name', 'config.hardware.numCPU', 'config.hardware.memoryMB'])).map(
      (o) => ({
        ref: o.obj,
        name: String(o.props.name),
        numCPU: Number(o.props['config.hardware.numCPU']),
        memoryMB: Number(o.props['config.hardware.memoryMB']),
      }),
    ),
  );
}

async function templates(): Promise<string[]> {
  return (await vms())
    .map((v) => v.name)
    .filter((n) => /-template(-|$)/.test(n))
    .sort();
}

beforeAll(async () => {
  if (!dockerAvailable()) throw new Error('the docker CLI is missing (/usr/local/bin/docker)');
  box = await startTestBox();
  vim = await connectToSimulator(box.sim);
  ctx = { client: vim, updates: await UpdatesLoop.start(vim) };
  pc = new PropertyCollector(vim);
  await timedDocker('pull busybox', ['pull', 'busybox']);
}, 600_000);

afterAll(async () => {
  await ctx?.updates.close().catch(() => undefined);
  await vim?.close().catch(() => undefined);
  await box?.stop();
  process.stderr.write(`docker-run-resources timings:\n  ${timings.join('\n  ')}\n`);
}, 120_000);

test('--cpus 2 --memory 512m: two first runs at once make ONE template of that size; the guest has 2 CPUs and ~512 MiB', async () => {
  const before = await templates();
  const run = () =>
    timedDocker('first runs of 2cpu-512mb (concurrent)', [
      'run',
      '--rm',
      ...SIZED,
      'busybox',
      'sh',
      '-c',
      'nproc; grep MemTotal /proc/meminfo',
    ]);
  const [a, b] = await Promise.all([run(), run()]);
  for (const r of [a, b]) {
    const [nproc, memTotal] = r.stdout.trim().split('\n');
    expect(nproc).toBe('2');
    // The guest kernel keeps ~40 MiB of the VM's 512 for itself.
    const kb = Number(/MemTotal:\s+(\d+) kB/.exec(memTotal ?? '')?.[1]);
    expect(kb * 1024).toBeGreaterThan(440 * MIB);
    expect(kb * 1024).toBeLessThanOrEqual(512 * MIB);
  }
  const made = (await templates()).filter((n) => !before.includes(n));
  expect(made).toHaveLength(1);
  expect(made[0]).toMatch(/-template-2cpu-512mb$/);
  const template = (await vms()).find((v) => v.name === made[0]);
  expect(template).toMatchObject({ numCPU: 2, memoryMB: 512 });
});

test('a later container of that size is an instant clone of the same template; inspect and stats show the size', async () => {
  const before = await templates();
  const r = await timedDocker('later run -d of 2cpu-512mb', [
    'run',
    '-d',
    '--name',
    'sized',
    ...SIZED,
    'busybox',
    'sleep',
    '60',
  ]);
  try {
    expect(await templates()).toEqual(before);
    // The template's cold boot alone takes ~9 s under TCG; a clone is a few seconds at most.
    expect(r.ms).toBeLessThan(8_000);
    const vm = (await vms()).find((v) => v.name.startsWith('sized-'));
    expect(vm).toMatchObject({ numCPU: 2, memoryMB: 512 });
    const inspect = await docker(['inspect', '-f', '{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}}', 'sized']);
    expect(inspect.stdout.trim()).toBe(`2000000000 ${512 * MIB}`);
    const stats = await timedDocker('stats --no-stream', [
      'stats',
      '--no-stream',
      '--format',
      '{{.MemUsage}}',
      'sized',
    ]);
    expect(stats.stdout).toMatch(/\/ 512MiB/);
  } finally {
    await timedDocker('rm -f of the running container', ['rm', '-f', 'sized']);
  }
});

test('a memory size under the minimum is refused with its reason, exit 125, and no template is made', async () => {
  const before = await templates();
  const r = await docker(['run', '--rm', '--memory', '100m', 'busybox', 'true']);
  expect(r.code).toBe(125);
  expect(r.stderr).toContain('Minimum memory limit allowed is 128MB');
  expect(await templates()).toEqual(before);
});

test('a size whose template an administrator deleted gets a new one at its next run', async () => {
  const template = (await vms()).find((v) => v.name.endsWith('-template-2cpu-512mb'));
  if (!template) throw new Error('no 2cpu-512mb template to delete');
  await powerOff(ctx, template.ref);
  await destroyVM(ctx, template.ref);
  const r = await timedDocker('run of 2cpu-512mb after its template was deleted', [
    'run',
    '--rm',
    ...SIZED,
    'busybox',
    'nproc',
  ]);
  expect(r.stdout).toBe('2\n');
  const again = (await vms()).filter((v) => v.name === template.name);
  expect(again).toHaveLength(1);
  expect(again[0]?.ref.value).not.toBe(template.ref.value);
});

test('docker update --cpus/--memory: an exited container runs its next start at the new size', async () => {
  const first = await docker(['run', '--name', 'grow', 'busybox', 'nproc']);
  expect(first.stdout).toBe('1\n');
  try {
    const up = await docker(['update', '--cpus', '2', '--memory', '384m', 'grow']);
    expect({ code: up.code, stderr: up.stderr }).toEqual({ code: 0, stderr: '' });
    const inspect = await docker(['inspect', '-f', '{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}}', 'grow']);
    expect(inspect.stdout.trim()).toBe(`2000000000 ${384 * MIB}`);
    // The VM may still be powering off after the exit: the size reaches it by its next start.
    const again = await timedDocker('start -a after update (cold boot at the new size)', ['start', '-a', 'grow']);
    expect(again.stdout).toBe('2\n');
    expect((await vms()).find((v) => v.name.startsWith('grow-'))).toMatchObject({ numCPU: 2, memoryMB: 384 });
  } finally {
    await docker(['rm', '-f', 'grow']);
  }
});
