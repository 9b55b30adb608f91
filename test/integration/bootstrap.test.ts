/**
 * Builds the bootstrap image (from cache after the first time) with the placeholder tether and
 * boots it under qemu/TCG: the guest must reach Node on the CD, print `tether ready` on the
 * serial console and power off, which ends qemu.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type BootstrapImage, buildBootstrap, qemuBootArgs, repoRoot } from '../../src/bootstrap';

const placeholder = join(repoRoot(), 'src/bootstrap/fixtures/placeholder-tether');

interface Boot {
  code: number | null;
  output: string;
  readyAfterMs?: number;
}

function boot(args: string[], timeoutMs: number): Promise<Boot> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let readyAfterMs: number | undefined;
    const collect = (chunk: Buffer) => {
      output += chunk.toString('latin1');
      if (readyAfterMs === undefined && output.includes('tether ready')) readyAfterMs = Date.now() - started;
    };
    qemu.stdout.on('data', collect);
    qemu.stderr.on('data', collect);
    const timer = setTimeout(() => qemu.kill('SIGKILL'), timeoutMs);
    qemu.on('error', reject);
    qemu.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output, readyAfterMs });
    });
  });
}

describe('bootstrap image', () => {
  let image: BootstrapImage;

  beforeAll(async () => {
    image = await buildBootstrap({ tetherDir: placeholder });
  }, 300_000);

  it('carries the kernel, initramfs, Node and tether it says it does', () => {
    expect(image.manifest.kernelRelease).toMatch(/cloud-amd64$/);
    expect(image.manifest.modules).toEqual(expect.arrayContaining(['virtio_scsi', 'sr_mod', 'isofs', 'vmxnet3']));
    // Dependencies load first.
    const order = image.manifest.modules;
    expect(order.indexOf('scsi_mod')).toBeLessThan(order.indexOf('sr_mod'));
    expect(order.indexOf('virtio')).toBeLessThan(order.indexOf('virtio_pci'));
    expect(readFileSync(image.iso).subarray(0x8001, 0x8006).toString()).toBe('CD001');
  });

  it('is found in the cache the second time', async () => {
    const again = await buildBootstrap({ tetherDir: placeholder });
    expect(again.cached).toBe(true);
    expect(again.iso).toBe(image.iso);
    const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
    expect(sha(again.iso)).toBe(sha(image.iso));
  });

  const expectReadyAndPowerOff = (result: Boot, how: string) => {
    if (result.code !== 0 || result.readyAfterMs === undefined) {
      throw new Error(`qemu exited ${result.code}; console:\n${result.output.slice(-4000)}`);
    }
    expect(result.output).toMatch(/tether ready node=v\d+/);
    // A panic would also end qemu (panic=-1, -no-reboot); this line is the poweroff's.
    expect(result.output).toMatch(/reboot: Power down/);
    process.stderr.write(`bootstrap (${how}): "tether ready" ${result.readyAfterMs} ms after qemu started\n`);
  };

  it('boots under qemu with -kernel/-initrd to "tether ready" and powers off', async () => {
    expectReadyAndPowerOff(await boot(qemuBootArgs(image), 240_000), 'qemu -kernel');
  }, 300_000);

  it('boots by itself from the CD (isolinux, IDE CD-ROM as on an ESXi BIOS VM)', async () => {
    const args = ['-M', 'pc,accel=tcg', '-cpu', 'qemu64,+rdrand', '-m', '128', '-nographic', '-no-reboot'];
    args.push('-nic', 'none', '-cdrom', image.iso, '-boot', 'd');
    expectReadyAndPowerOff(await boot(args, 240_000), 'isolinux');
  }, 300_000);
});
