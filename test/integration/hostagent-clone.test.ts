/**
 * Instant clone on the host agent: a template guest asks to be frozen over guestinfo; the
 * agent saves its state (RAM stays in the shared file) and marks the VM frozen. Each
 * InstantClone_Task child is restored from that state, copy-on-write, and its guest's
 * `freeze` call returns there: it reads its own identity (the clone spec's extraConfig)
 * and writes it back. Clones run one after another: the box has two cores.
 */

import { readdir } from 'node:fs/promises';
import type { BootstrapImage } from '../../src/bootstrap';
import { untilFrozen } from '../../src/portlayer/execution/template';
import { PropertyCollector } from '../../src/vsphere/propertyCollector';
import { instantClone, powerOff, powerOn } from '../../src/vsphere/virtualMachine';
import {
  type Box,
  buildGuestImage,
  createGuestVm,
  isAlive,
  qemusOf,
  startBox,
  untilExtraConfig,
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

describe('host agent instant clone', () => {
  it('freezes a template on request and restores clones from it', async () => {
    const template = await createGuestVm(box, 'ha-template', {
      'guestinfo.vch.test.input': 'template',
      'guestinfo.vch.test.mode': 'freeze',
    });
    const t0 = Date.now();
    await powerOn(box.ctx, template);
    const tpl = await untilRunning(box.agent, template);
    // The simulator consumes sim.instantClone.freeze and sets runtime.instantCloneFrozen.
    const pc = new PropertyCollector(box.client);
    await untilFrozen(box.ctx, template, 120_000);
    const frozenMs = Date.now() - t0;
    const { props } = await pc.retrieveOne(template, ['runtime.powerState', 'config.extraConfig']);
    expect(props['runtime.powerState']).toBe('poweredOn');
    // The template's qemu is gone; its state and RAM file stay for the clones.
    expect(isAlive(tpl.pid)).toBe(false);

    const timings: number[] = [];
    for (const name of ['clone-1', 'clone-2']) {
      const c0 = Date.now();
      const child = await instantClone(box.ctx, template, {
        name: `ha-${name}`,
        extraConfig: { 'guestinfo.vch.test.input': name },
      });
      const running = await untilRunning(box.agent, child);
      expect(running.restored).toBe(true);
      const firstCall = await running.firstGuestInfo;
      timings.push(firstCall - c0);
      const ec = await untilExtraConfig(box, child, (e) => e['guestinfo.vch.test.cloned'] !== undefined, 60_000);
      expect(ec['guestinfo.vch.test.cloned']).toBe(`clone:${name}`);
      // The template's own output is inherited; the clone never booted, so it never rewrote it.
      expect(ec['guestinfo.vch.test.output']).toMatch(/^echo:template:/);
      await untilPowerState(box, child, 'poweredOff', 60_000);
      expect(isAlive(running.pid)).toBe(false);
    }
    // A guest that powered itself off stays off: no late update starts it again.
    await new Promise((r) => setTimeout(r, 1000));
    const starts = box.logLines.filter((l) => l.msg === 'qemu started').map((l) => l.vm);
    expect(starts).toHaveLength(new Set(starts).size);
    expect(qemusOf(box.agent)).toEqual([]);
    // Only the frozen template's RAM file is kept; powering the template off lets it go.
    expect(await readdir(box.agent.ramDir)).toHaveLength(1);
    await powerOff(box.ctx, template);
    const off = Date.now();
    while ((await readdir(box.agent.ramDir)).length > 0 && Date.now() - off < 5000) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await readdir(box.agent.ramDir)).toHaveLength(0);
    process.stderr.write(
      `hostagent instant clone: template power on → frozen ${frozenMs} ms; ` +
        `InstantClone_Task → first guestinfo call in the clone: ${timings.join(', ')} ms\n`,
    );
  });
});
