/**
 * The real tether as a container VM's init, end to end on the box (docs/container-vm.md):
 * a template VM boots the bootstrap image, warms up and freezes; each container is an
 * instant clone carrying id/spec/seed/clock, its busybox layer and read-write child disk
 * hot-added after the clone call. The tether stacks them into the container's root,
 * connects the backchannel to the attach server, runs the main process on the first
 * attach, reports `guestinfo.vch.status` and powers the VM off when the process exits.
 * One qemu at a time: the box has two cores.
 */

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { untilFrozen } from '../../src/portlayer/execution/template';
import { AttachServer } from '../../src/portlayer/interaction/attach-server';
import { SessionStartError } from '../../src/portlayer/interaction/session';
import type { ProcessSpec } from '../../src/tether/protocol/messages';
import { existingDiskSpec, isScsiController, TemporaryDeviceKeys } from '../../src/vsphere/deviceSpecs';
import type { VirtualDisk, VirtualDiskFlatVer2BackingInfo } from '../../src/vsphere/vim25/generated/types';
import type { ManagedObjectReference } from '../../src/vsphere/vim25/values';
import { changeDevices, instantClone, powerOff, powerOn, readDevices } from '../../src/vsphere/virtualMachine';
import { type Box, qemusOf, startBox, untilExtraConfig, untilPowerState } from '../fixtures/hostagent-guest/harness';
import {
  buildTetherImage,
  cloneExtraConfig,
  createTemplate,
  LAYER_DS_PATH,
  SCRATCH_DS_PATH,
  writeDisks,
} from '../fixtures/tether-vm/guest';

jest.setTimeout(600_000);

let box: Box;
let attach: AttachServer;
let template: ManagedObjectReference;
let count = 0;

beforeAll(async () => {
  const image = await buildTetherImage();
  box = await startBox(image);
  await writeDisks(box.sim.datastores[0].path);
  attach = await AttachServer.listen({ host: '127.0.0.1', port: 0 });
  const address = attach.address();
  if (typeof address === 'string') throw new Error('attach server on a unix socket');
  template = await createTemplate(box, 'tvm-template', address.port);
  await powerOn(box.ctx, template);
  await untilFrozen(box.ctx, template, 240_000);
}, 900_000);

afterAll(async () => {
  const agent = box?.agent;
  if (template) await powerOff(box.ctx, template).catch(() => undefined);
  await attach?.close();
  await box?.stop();
  if (agent) expect(qemusOf(agent)).toEqual([]);
});

/** Hot-adds the layer (unit 0, read-only) and a new child of the scratch disk (unit 1). */
async function addDisks(vm: ManagedObjectReference, name: string): Promise<void> {
  const controller = (await readDevices(box.ctx, vm)).find(isScsiController);
  if (!controller) throw new Error('the clone has no SCSI controller');
  const keys = new TemporaryDeviceKeys();
  const rw: VirtualDisk = {
    _type: 'VirtualDisk',
    key: keys.take(),
    controllerKey: controller.key,
    unitNumber: 1,
    capacityInKB: 64 * 1024,
    backing: {
      _type: 'VirtualDiskFlatVer2BackingInfo',
      fileName: `[LocalDS_0] ${name}/rw.vmdk`,
      diskMode: 'persistent',
      parent: { _type: 'VirtualDiskFlatVer2BackingInfo', fileName: SCRATCH_DS_PATH, diskMode: 'persistent' },
    } as VirtualDiskFlatVer2BackingInfo,
  };
  await changeDevices(box.ctx, vm, [
    existingDiskSpec(keys, {
      controllerKey: controller.key,
      unitNumber: 0,
      fileName: LAYER_DS_PATH,
      mode: 'independent_nonpersistent',
    }),
    { operation: 'add', fileOperation: 'create', device: rw },
  ]);
}

function collect(stream: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    stream.on('data', (c: Buffer) => {
      text += c.toString('utf8');
    });
    stream.on('end', () => resolve(text));
    stream.on('error', reject);
  });
}

interface RunResult {
  stdout: string;
  exitCode: number;
  startError?: string;
  status: Record<string, unknown>;
  /** InstantClone_Task call → the first stdout bytes (or the start failure). */
  firstOutputMs: number;
  console: string;
  steps: string;
}

interface Container {
  vm: ManagedObjectReference;
  id: string;
}

/** Clones the template as a container and hot-adds its disks; `t0` is the clone call. */
async function createContainer(
  process: ProcessSpec,
  specText?: string,
): Promise<Container & { t0: number; steps: string }> {
  const name = `tvm-c${++count}`;
  const { id, extraConfig } = cloneExtraConfig(process, name);
  if (specText !== undefined) extraConfig['guestinfo.vch.spec'] = specText;
  const t0 = Date.now();
  const vm = await instantClone(box.ctx, template, { name, extraConfig });
  const cloned = Date.now() - t0;
  await addDisks(vm, name);
  return { vm, id, t0, steps: `clone ${cloned} ms, disks added ${Date.now() - t0} ms` };
}

/**
 * Attaches to a running container VM (starting its main process), collects its output,
 * then waits for its status to say `exited` (a newer one than `previous`) and for the VM
 * to be powered off.
 */
async function attachAndWait(c: Container, t0: number, previous?: string): Promise<RunResult> {
  // The guest's console goes with its qemu: keep the newest copy while it runs.
  let consoleText = '';
  const consoleFile = path.join(box.agent.stateDir, c.vm.value, 'console.log');
  const tail = setInterval(() => {
    void readFile(consoleFile, 'utf8').then(
      (t) => {
        consoleText = t;
      },
      () => undefined,
    );
  }, 50);
  try {
    const client = await attach.waitFor(c.id, 120_000);
    const hello = Date.now() - t0;
    let firstOutputMs = 0;
    let stdout = '';
    let exitCode: number;
    let startError: string | undefined;
    let attached = 0;
    try {
      const session = await client.attach();
      attached = Date.now() - t0;
      session.stdout.once('data', () => {
        firstOutputMs = Date.now() - t0;
      });
      const [out] = await Promise.all([collect(session.stdout), collect(session.stderr)]);
      stdout = out;
      exitCode = await session.exitCode;
    } catch (err) {
      if (!(err instanceof SessionStartError)) throw err;
      firstOutputMs = Date.now() - t0;
      exitCode = err.exitCode;
      startError = err.message;
    }
    const status = await untilExited(c.vm, previous);
    await untilPowerState(box, c.vm, 'poweredOff', 60_000);
    return {
      steps: `hello ${hello} ms, attached ${attached} ms, output ${firstOutputMs} ms`,
      stdout,
      exitCode,
      startError,
      status,
      firstOutputMs,
      console: consoleText,
    };
  } finally {
    clearInterval(tail);
  }
}

async function untilExited(vm: ManagedObjectReference, previous?: string): Promise<Record<string, unknown>> {
  const ec = await untilExtraConfig(
    box,
    vm,
    (e) => {
      const text = e['guestinfo.vch.status'];
      return text !== undefined && text !== previous && (JSON.parse(text) as { state?: string }).state === 'exited';
    },
    60_000,
  );
  return JSON.parse(ec['guestinfo.vch.status']) as Record<string, unknown>;
}

async function runContainer(process: ProcessSpec): Promise<RunResult & Container> {
  const c = await createContainer(process);
  const r = await attachAndWait(c, c.t0);
  return { ...r, ...c, steps: `${c.steps}, ${r.steps}` };
}

describe('the tether in a container VM', () => {
  it('runs echo hello from an instant clone, reports its exit and powers off', async () => {
    const timings: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await runContainer({ argv: ['echo', 'hello'] });
      expect(r.stdout).toBe('hello\n');
      expect(r.exitCode).toBe(0);
      expect(r.status).toMatchObject({ state: 'exited', exitCode: 0 });
      expect(typeof r.status.finishedAt).toBe('string');
      timings.push(r.firstOutputMs);
      if (process.env.VCH_TEST_VERBOSE || i === 0) process.stderr.write(`${r.steps}\n${r.console}\n`);
    }
    const sorted = [...timings].sort((a, b) => a - b);
    process.stderr.write(
      `tether VM: InstantClone_Task call → "hello" received, median of 3: ${sorted[1]} ms [${timings.join(', ')}]\n`,
    );
  });

  it('reports a non-zero exit code', async () => {
    const r = await runContainer({ argv: ['sh', '-c', 'exit 3'] });
    expect(r.exitCode).toBe(3);
    expect(r.status).toMatchObject({ state: 'exited', exitCode: 3 });
  });

  it('reports a spec it cannot use as exited 125 and powers off', async () => {
    const c = await createContainer({ argv: ['true'] }, '{"id":"nope"}');
    const status = await untilExited(c.vm);
    expect(status).toMatchObject({
      state: 'exited',
      exitCode: 125,
      error: 'container spec: id must be 64 lowercase hex',
    });
    await untilPowerState(box, c.vm, 'poweredOff', 60_000);
  });

  it('cold-boots an exited container again on power on, its read-write disk kept', async () => {
    const first = await runContainer({ argv: ['sh', '-c', 'cat /state 2>/dev/null; echo run >> /state; hostname'] });
    expect(first.stdout).toBe(`${first.id.slice(0, 12)}\n`);
    const t0 = Date.now();
    await powerOn(box.ctx, first.vm);
    const again = await attachAndWait(first, t0, JSON.stringify(first.status));
    expect(again.stdout).toBe(`run\n${first.id.slice(0, 12)}\n`);
    expect(again.status).toMatchObject({ state: 'exited', exitCode: 0 });
    process.stderr.write(`tether VM: restart (cold boot) power on → output ${again.firstOutputMs} ms\n`);
  });

  it('runs docker exec sessions in the container root, with a tty too, and passes signals', async () => {
    const c = await createContainer({ argv: ['sleep', '60'] });
    const client = await attach.waitFor(c.id, 120_000);
    const main = await client.attach();
    const plain = await client.exec({ argv: ['cat', '/etc/hostname'] });
    const [out] = await Promise.all([collect(plain.stdout), collect(plain.stderr)]);
    expect(out).toBe(`${c.id.slice(0, 12)}\n`);
    expect(await plain.exitCode).toBe(0);
    const tty = await client.exec({ argv: ['sh', '-c', 'tty; ls /'], tty: true });
    const ttyOut = await collect(tty.stdout);
    expect(ttyOut).toMatch(/^\/dev\/pts\/\d+\r\n/);
    expect(ttyOut).toContain('bin');
    expect(await tty.exitCode).toBe(0);
    main.signal('KILL');
    expect(await main.exitCode).toBe(137);
    expect(await untilExited(c.vm)).toMatchObject({ state: 'exited', exitCode: 137, signal: 'SIGKILL' });
    await untilPowerState(box, c.vm, 'poweredOff', 60_000);
  });

  it('reports a missing executable as Docker does', async () => {
    const r = await runContainer({ argv: ['no-such-command'] });
    expect(r.exitCode).toBe(127);
    expect(r.startError).toBe('exec: "no-such-command": executable file not found in $PATH');
    expect(r.status).toMatchObject({
      state: 'exited',
      exitCode: 127,
      error: 'exec: "no-such-command": executable file not found in $PATH',
    });
  });
});
