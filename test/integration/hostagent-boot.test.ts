/**
 * The host agent boots simulator VMs under qemu: a VM made through the vSphere API with the
 * test guest's bootstrap ISO as its CD-ROM is powered on, the guest reads guestinfo and
 * writes guestinfo through the virtio-serial port (visible in config.extraConfig), powers
 * itself off, and the VM ends poweredOff with no qemu left. The network serial port reaches
 * a TCP server as the backchannel; power off through the API stops a running guest's qemu;
 * a qemu that dies powers its VM off. A flat VMDK reaches the guest as a raw disk,
 * a child disk as a qcow2 overlay of its parent. One VM at a time: the box has two cores.
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import path from 'node:path';
import type { BootstrapImage } from '../../src/bootstrap';
import { localPathOf } from '../../src/simulator/hostagent';
import { extentOf } from '../../src/simulator/hostagent/diskFiles';
import { isScsiController } from '../../src/vsphere/deviceSpecs';
import type {
  VirtualDeviceFileBackingInfo,
  VirtualDisk,
  VirtualDiskFlatVer2BackingInfo,
} from '../../src/vsphere/vim25/generated/types';
import {
  addDisk,
  addSerialPort,
  changeDevices,
  powerOff,
  powerOn,
  readDevices,
} from '../../src/vsphere/virtualMachine';
import {
  type Box,
  buildGuestImage,
  createGuestVm,
  isAlive,
  qemusOf,
  startBox,
  untilExtraConfig,
  untilLog,
  untilPowerState,
  untilRunning,
} from '../fixtures/hostagent-guest/harness';

jest.setTimeout(300_000);

let image: BootstrapImage;
let box: Box;

beforeAll(async () => {
  image = await buildGuestImage();
  box = await startBox(image);
}, 600_000);

afterAll(async () => {
  const agent = box?.agent;
  await box?.stop();
  if (agent) expect(qemusOf(agent)).toEqual([]);
});

describe('host agent cold boot', () => {
  it('boots the guest, serves guestinfo get/set, and powers the VM off when the guest does', async () => {
    const vm = await createGuestVm(box, 'ha-boot', {
      'guestinfo.vch.test.input': 'hello "world"\nline 2',
      'guestinfo.vch.test.disk': 'vch-disk-marker',
    });
    // A flat disk: the guest sees its extent as a raw SCSI disk and writes a marker into it.
    const disk = await addDisk(box.ctx, vm, { capacityKB: 16 * 1024, fileName: '[LocalDS_0]' });
    const vmdk = localPathOf((disk.backing as VirtualDeviceFileBackingInfo).fileName, box.sim.datastores);
    const t0 = Date.now();
    await powerOn(box.ctx, vm);
    const running = await untilRunning(box.agent, vm);
    const pid = running.pid;
    expect(isAlive(pid)).toBe(true);

    const ec = await untilExtraConfig(box, vm, (e) => e['guestinfo.vch.test.output'] !== undefined, 120_000);
    const bootMs = Date.now() - t0;
    expect(ec['guestinfo.vch.test.output']).toMatch(/^echo:hello "world"\nline 2:/);
    await untilPowerState(box, vm, 'poweredOff', 60_000);
    const offMs = Date.now() - t0;
    // The agent reaps qemu before it powers the VM off.
    expect(isAlive(pid)).toBe(false);
    expect(box.agent.running()).toEqual([]);
    expect(qemusOf(box.agent)).toEqual([]);
    const extent = await extentOf(vmdk);
    expect((await stat(extent)).size).toBe(16 * 1024 * 1024);
    expect((await readFile(extent)).subarray(0, 15).toString()).toBe('vch-disk-marker');
    const poweredOffLine = box.logLines.find((l) => l.reason === 'guest powered off');
    expect(poweredOffLine?.vm).toBe(vm.value);
    process.stderr.write(`hostagent cold boot: power on → output set ${bootMs} ms, → poweredOff ${offMs} ms\n`);
  });

  it('connects the network serial port as the backchannel, and power off through the API stops qemu', async () => {
    // The VCH's attach server stand-in: the VM connects out to it (direction client).
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const hello = new Promise<string>((resolve) => {
      server.on('connection', (socket) => {
        socket.setEncoding('utf8');
        let text = '';
        socket.on('data', (chunk: string) => {
          text += chunk;
          if (text.includes('\n')) resolve(text.trim());
        });
        socket.on('error', () => undefined);
      });
    });
    try {
      const vm = await createGuestVm(box, 'ha-stay', {
        'guestinfo.vch.test.input': 'stay',
        'guestinfo.vch.test.mode': 'stay',
      });
      await addSerialPort(box.ctx, vm, { serviceURI: `tcp://127.0.0.1:${port}`, direction: 'client' });
      await powerOn(box.ctx, vm);
      const running = await untilRunning(box.agent, vm);
      await expect(hello).resolves.toBe('hello from stay');
      expect(isAlive(running.pid)).toBe(true);

      await powerOff(box.ctx, vm);
      const stopped = await untilLog(box, (l) => l.vm === vm.value && l.msg === 'qemu stopped');
      expect(stopped.reason).toBe('poweredOff through the API');
      expect(isAlive(running.pid)).toBe(false);
      expect(qemusOf(box.agent)).toEqual([]);
    } finally {
      server.close();
    }
  });

  it('powers the VM off, with the reason logged, when its qemu dies', async () => {
    const vm = await createGuestVm(box, 'ha-crash', { 'guestinfo.vch.test.mode': 'stay' });
    await powerOn(box.ctx, vm);
    const running = await untilRunning(box.agent, vm);
    process.kill(running.pid, 'SIGKILL');
    await untilPowerState(box, vm, 'poweredOff', 30_000);
    const died = await untilLog(box, (l) => l.vm === vm.value && l.reason === 'qemu died');
    expect(died.signal).toBe('SIGKILL');
    expect(qemusOf(box.agent)).toEqual([]);
  });

  it('runs a child disk as a qcow2 overlay of its parent, leaving the parent untouched', async () => {
    const ds = box.sim.datastores[0].path;
    // The parent: a flat disk put on the datastore as files, with data in its second block.
    await mkdir(path.join(ds, 'ha-layers'), { recursive: true });
    await writeFile(path.join(ds, 'ha-layers/parent.vmdk'), '');
    const parentData = Buffer.alloc(1024 * 1024);
    parentData.write('parent-content', 512);
    await writeFile(path.join(ds, 'ha-layers/parent-flat.vmdk'), parentData);

    const vm = await createGuestVm(box, 'ha-child', { 'guestinfo.vch.test.disk': 'child-marker' });
    const [controller] = (await readDevices(box.ctx, vm)).filter(isScsiController);
    const child: VirtualDisk = {
      _type: 'VirtualDisk',
      key: -1,
      controllerKey: controller.key,
      unitNumber: 0,
      capacityInKB: 1024,
      backing: {
        _type: 'VirtualDiskFlatVer2BackingInfo',
        fileName: '[LocalDS_0] ha-child/child.vmdk',
        diskMode: 'persistent',
        parent: {
          _type: 'VirtualDiskFlatVer2BackingInfo',
          fileName: '[LocalDS_0] ha-layers/parent.vmdk',
          diskMode: 'persistent',
        },
      } as VirtualDiskFlatVer2BackingInfo,
    };
    await changeDevices(box.ctx, vm, [{ operation: 'add', fileOperation: 'create', device: child }]);
    await powerOn(box.ctx, vm);
    const ec = await untilExtraConfig(box, vm, (e) => e['guestinfo.vch.test.diskread'] !== undefined, 120_000);
    expect(ec['guestinfo.vch.test.diskread']).toBe('parent-content');
    await untilPowerState(box, vm, 'poweredOff', 60_000);
    // The guest's write went to the overlay; the parent still has zeros there.
    const parentNow = await readFile(path.join(ds, 'ha-layers/parent-flat.vmdk'));
    expect(parentNow.equals(parentData)).toBe(true);
    expect((await stat(path.join(ds, 'ha-child/child-delta.qcow2'))).size).toBeGreaterThan(0);
  });

  it('starts every VM once: a VM powered off by its guest or the agent stays off', async () => {
    await new Promise((r) => setTimeout(r, 1000));
    const starts = box.logLines.filter((l) => l.msg === 'qemu started').map((l) => l.vm);
    expect(starts).toHaveLength(4);
    expect(new Set(starts).size).toBe(4);
    expect(box.agent.running()).toEqual([]);
  });
});
