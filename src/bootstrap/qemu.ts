/**
 * How qemu boots a bootstrap image: the reference for the simulator's host agent and what the
 * integration test runs. The kernel and initramfs go in by -kernel/-initrd (no firmware boot
 * from the CD, which saves a second or so under TCG); the ISO is a CD-ROM on virtio-scsi,
 * because the cloud kernel has no AHCI driver for q35's own SATA CD-ROM.
 * Under TCG only: /dev/kvm on these machines is a nested hypervisor that hangs stock kernels.
 */
import type { BootstrapImage } from './build';

export interface QemuBootOptions {
  memoryMiB?: number;
  /** Extra kernel command line, after the image's own. */
  append?: string;
}

export function qemuBootArgs(
  image: Pick<BootstrapImage, 'iso' | 'kernel' | 'initrd' | 'manifest'>,
  o: QemuBootOptions = {},
): string[] {
  const cmdline = [image.manifest.cmdline, o.append].filter(Boolean).join(' ');
  return [
    '-M',
    'q35,accel=tcg',
    // rdrand: without it Node's first start waits on the guest's entropy pool.
    '-cpu',
    'qemu64,+rdrand',
    '-m',
    String(o.memoryMiB ?? 128),
    '-nographic',
    // A guest that powers off or panics (panic=-1 reboots) ends qemu instead of rebooting.
    '-no-reboot',
    '-nic',
    'none',
    '-kernel',
    image.kernel,
    '-initrd',
    image.initrd,
    '-append',
    cmdline,
    '-device',
    'virtio-scsi-pci,id=scsi0',
    '-drive',
    // qemu option values escape a comma by doubling it.
    `if=none,id=bootstrap,file=${image.iso.replace(/,/g, ',,')},format=raw,media=cdrom,readonly=on`,
    '-device',
    'scsi-cd,drive=bootstrap,bus=scsi0.0',
  ];
}
