/**
 * Disks hot-added to and removed from a running VM through ReconfigVM_Task reach the guest,
 * as on ESXi: a flat VMDK as a read-only raw disk (independent_nonpersistent), a child disk
 * as a writable qcow2 overlay of its parent, each at the SCSI target of its unit number with
 * serial `vch-unit-<unit>`; a removed disk leaves the guest. The test guest (mode `hotplug`)
 * scans /sys/block every 20 ms and reports its disks in guestinfo.vch.test.disks. Then the
 * same right after InstantClone_Task returns: the disks come after the clone is restored.
 * One VM at a time: the box has two cores.
 */

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { BootstrapImage } from '../../src/bootstrap';
import { untilFrozen } from '../../src/portlayer/execution/template';
import { freeScsiSlot } from '../../src/vsphere/deviceSpecs';
import type {
  VirtualDevice,
  VirtualDisk,
  VirtualDiskFlatVer2BackingInfo,
} from '../../src/vsphere/vim25/generated/types';
import type { ManagedObjectReference } from '../../src/vsphere/vim25/values';
import {
  addDisk,
  changeDevices,
  instantClone,
  powerOff,
  powerOn,
  readDevices,
  removeDevice,
} from '../../src/vsphere/virtualMachine';
import {
  type Box,
  buildGuestImage,
  createGuestVm,
  qemusOf,
  startBox,
  untilExtraConfig,
  untilPowerState,
} from '../fixtures/hostagent-guest/harness';

jest.setTimeout(600_000);

const LAYER = '[LocalDS_0] ha-hot-layers/layer.vmdk';
const PARENT = '[LocalDS_0] ha-hot-layers/parent.vmdk';

let image: BootstrapImage;
let box: Box;
let layerData: Buffer;
let parentData: Buffer;

interface GuestDisk {
  dev: string;
  target: number;
  serial: string;
  ro: boolean;
  b0: string;
  b1: string;
  after?: string;
}
interface DiskReport {
  seen: number;
  disks: GuestDisk[];
}

beforeAll(async () => {
  image = await buildGuestImage();
  box = await startBox(image);
  // An image layer's flat disk with a marker at its start; a parent with data in its second block.
  const dir = path.join(box.sim.datastores[0].path, 'ha-hot-layers');
  await mkdir(dir, { recursive: true });
  layerData = Buffer.alloc(1024 * 1024);
  layerData.write('layer-marker');
  await writeFile(path.join(dir, 'layer.vmdk'), '');
  await writeFile(path.join(dir, 'layer-flat.vmdk'), layerData);
  parentData = Buffer.alloc(1024 * 1024);
  parentData.write('parent-content', 512);
  await writeFile(path.join(dir, 'parent.vmdk'), '');
  await writeFile(path.join(dir, 'parent-flat.vmdk'), parentData);
}, 600_000);

afterAll(async () => {
  const agent = box?.agent;
  await box?.stop();
  if (agent) expect(qemusOf(agent)).toEqual([]);
});

/** The guest's newest disk report, once `pred` holds for it. */
async function untilDisks(
  vm: ManagedObjectReference,
  pred: (r: DiskReport) => boolean,
  timeoutMs = 30_000,
): Promise<DiskReport> {
  const ec = await untilExtraConfig(
    box,
    vm,
    (e) => e['guestinfo.vch.test.disks'] !== undefined && pred(JSON.parse(e['guestinfo.vch.test.disks'])),
    timeoutMs,
  );
  return JSON.parse(ec['guestinfo.vch.test.disks']) as DiskReport;
}

/** The layer, attached read-only (independent_nonpersistent) as the port layer attaches layers. */
function addLayer(vm: ManagedObjectReference): Promise<VirtualDevice> {
  return addDisk(box.ctx, vm, { fileName: LAYER, existing: true, mode: 'independent_nonpersistent' });
}

/** A new child disk of PARENT, in the next free SCSI slot (addDisk makes flat disks only). */
async function addChild(vm: ManagedObjectReference, fileName: string): Promise<VirtualDevice> {
  const before = await readDevices(box.ctx, vm);
  const slot = freeScsiSlot(before);
  if (!slot) throw new Error('no free SCSI slot');
  const child: VirtualDisk = {
    _type: 'VirtualDisk',
    key: -1,
    ...slot,
    capacityInKB: 1024,
    backing: {
      _type: 'VirtualDiskFlatVer2BackingInfo',
      fileName,
      diskMode: 'persistent',
      parent: { _type: 'VirtualDiskFlatVer2BackingInfo', fileName: PARENT, diskMode: 'persistent' },
    } as VirtualDiskFlatVer2BackingInfo,
  };
  await changeDevices(box.ctx, vm, [{ operation: 'add', fileOperation: 'create', device: child }]);
  const added = (await readDevices(box.ctx, vm)).find(
    (d) => d._type === 'VirtualDisk' && !before.some((b) => b.key === d.key),
  );
  if (!added) throw new Error('the child disk is not in the VM');
  return added;
}

const at = (r: DiskReport, unit: number | undefined) => r.disks.find((d) => d.target === unit);

function expectLayer(d: GuestDisk | undefined, unit: number | undefined): void {
  expect(d).toMatchObject({ serial: `vch-unit-${unit}`, ro: true, b0: 'layer-marker' });
}
function expectChild(d: GuestDisk | undefined, unit: number | undefined): void {
  // The parent's data shows through; the guest's write lands in the overlay.
  expect(d).toMatchObject({
    serial: `vch-unit-${unit}`,
    ro: false,
    b1: 'parent-content',
    after: `wrote:vch-unit-${unit}`,
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function expectFilesUntouched(): Promise<void> {
  const dir = path.join(box.sim.datastores[0].path, 'ha-hot-layers');
  expect((await readFile(path.join(dir, 'layer-flat.vmdk'))).equals(layerData)).toBe(true);
  expect((await readFile(path.join(dir, 'parent-flat.vmdk'))).equals(parentData)).toBe(true);
}

describe('host agent disk hotplug', () => {
  it('hot-adds a flat and a child disk to a running cold-booted VM, and hot-removes them', async () => {
    const vm = await createGuestVm(box, 'ha-hot', {
      'guestinfo.vch.test.input': 'hot',
      'guestinfo.vch.test.mode': 'hotplug',
    });
    await powerOn(box.ctx, vm);
    const initial = await untilDisks(vm, (r) => r.seen >= 1, 180_000);
    expect(initial.disks).toEqual([]);

    const addLayerMs: number[] = [];
    const addChildMs: number[] = [];
    const removeMs: number[] = [];
    for (let round = 0; round < 3; round++) {
      let t0 = Date.now();
      const layer = await addLayer(vm);
      let r = await untilDisks(vm, (x) => at(x, layer.unitNumber) !== undefined);
      addLayerMs.push(Date.now() - t0);
      expectLayer(at(r, layer.unitNumber), layer.unitNumber);

      t0 = Date.now();
      const child = await addChild(vm, `[LocalDS_0] ha-hot/child-${round}.vmdk`);
      r = await untilDisks(vm, (x) => at(x, child.unitNumber) !== undefined);
      addChildMs.push(Date.now() - t0);
      expectChild(at(r, child.unitNumber), child.unitNumber);
      expect(r.disks).toHaveLength(2);

      t0 = Date.now();
      await removeDevice(box.ctx, vm, layer);
      r = await untilDisks(vm, (x) => at(x, layer.unitNumber) === undefined);
      removeMs.push(Date.now() - t0);
      expect(r.disks.map((d) => d.target)).toEqual([child.unitNumber]);
      await removeDevice(box.ctx, vm, child);
      r = await untilDisks(vm, (x) => x.disks.length === 0);
    }
    await expectFilesUntouched();
    await powerOff(box.ctx, vm);
    await untilPowerState(box, vm, 'poweredOff', 30_000);
    expect(box.logLines.filter((l) => /disk hot (add|remove) failed/.test(String(l.msg)))).toEqual([]);
    process.stderr.write(
      `hostagent hotplug (cold boot), ReconfigVM_Task call → guest reports the disk, median of 3: ` +
        `flat ${median(addLayerMs)} ms [${addLayerMs.join(', ')}], child ${median(addChildMs)} ms ` +
        `[${addChildMs.join(', ')}]; remove → gone ${median(removeMs)} ms [${removeMs.join(', ')}]\n`,
    );
  });

  it('hot-adds disks to an instant clone right after InstantClone_Task returns, after its restore', async () => {
    const template = await createGuestVm(box, 'ha-hot-tpl', {
      'guestinfo.vch.test.input': 'template',
      'guestinfo.vch.test.mode': 'freeze-hotplug',
    });
    await powerOn(box.ctx, template);
    await untilFrozen(box.ctx, template, 180_000);

    const timings: number[] = [];
    for (let i = 0; i < 3; i++) {
      const clone = await instantClone(box.ctx, template, {
        name: `ha-hot-clone-${i}`,
        extraConfig: { 'guestinfo.vch.test.input': `clone-${i}` },
      });
      const t0 = Date.now();
      const layer = await addLayer(clone);
      const child = await addChild(clone, `[LocalDS_0] ha-hot-clone-${i}/rw.vmdk`);
      const r = await untilDisks(clone, (x) => x.disks.length === 2, 60_000);
      timings.push(Date.now() - t0);
      expectLayer(at(r, layer.unitNumber), layer.unitNumber);
      expectChild(at(r, child.unitNumber), child.unitNumber);
      // Restored with the template's devices first, disks after `cont`.
      const lines = box.logLines.filter((l) => l.vm === clone.value);
      const restoredAt = lines.findIndex((l) => l.msg === 'restored from frozen source');
      const added = lines.map((l, n) => (l.msg === 'disk hot-added' ? n : -1)).filter((n) => n >= 0);
      expect(restoredAt).toBeGreaterThanOrEqual(0);
      expect(added).toHaveLength(2);
      expect(Math.min(...added)).toBeGreaterThan(restoredAt);
      await powerOff(box.ctx, clone);
      await untilPowerState(box, clone, 'poweredOff', 30_000);
    }
    await expectFilesUntouched();
    await powerOff(box.ctx, template);
    process.stderr.write(
      `hostagent hotplug (instant clone): InstantClone_Task returned → guest reports both disks, ` +
        `median of 3: ${median(timings)} ms [${timings.join(', ')}]\n`,
    );
  });
});
