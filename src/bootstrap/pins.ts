/**
 * What the bootstrap image is made of, pinned. Changing anything here changes the inputs
 * hash and so the cache directory: a new image is built, the old one stays where it was.
 *
 * The kernel is the versioned package that `linux-image-cloud-amd64` 6.1.192-2 depends on
 * (Debian's cloud kernel carries vmxnet3, pvscsi and vmci for ESXi and virtio for qemu).
 * Debian drops superseded versions from its mirrors (the kernel comes from
 * bookworm-security), so a pin can go stale: `apt-cache depends linux-image-cloud-amd64`
 * and `apt-cache policy busybox-static isolinux syslinux-common` name the current ones.
 */

export interface DebianPackage {
  name: string;
  version: string;
}

export const KERNEL_RELEASE = '6.1.0-56-cloud-amd64';

export const PACKAGES = {
  kernel: { name: `linux-image-${KERNEL_RELEASE}`, version: '6.1.192-2' },
  busybox: { name: 'busybox-static', version: '1:1.35.0-4+deb12u1+b1' },
  // isolinux.bin (El Torito boot for a BIOS VM on ESXi) and its ldlinux.c32.
  isolinux: { name: 'isolinux', version: '3:6.04~git20190206.bf6db5b4+dfsg1-3' },
  syslinux: { name: 'syslinux-common', version: '3:6.04~git20190206.bf6db5b4+dfsg1-3' },
} as const satisfies Record<string, DebianPackage>;

/**
 * Modules the guest loads at boot; their `depends=` closure is added. Both worlds are here:
 * virtio (the simulator's qemu: CD-ROM and disks on virtio-scsi, virtio-serial for the
 * backchannel and guestinfo, virtio-net, virtio-rng) and VMware (pvscsi, vmxnet3, vmci and its
 * vsock transport; the CD-ROM on the IDE controller needs ata_piix). The cloud kernel has no
 * AHCI, so a q35 machine's default SATA CD-ROM is invisible to it: attach the CD to virtio-scsi.
 * ext4 and the 8250 serial port are built in.
 */
export const MODULES = [
  'ata_piix',
  'isofs',
  'loop',
  'overlay',
  'sd_mod',
  'sr_mod',
  'virtio_blk',
  'virtio_console',
  'virtio_net',
  'virtio_pci',
  'virtio_rng',
  'virtio_scsi',
  'vmw_pvscsi',
  'vmw_vmci',
  'vmw_vsock_virtio_transport',
  'vmw_vsock_vmci_transport',
  'vmxnet3',
] as const;

/**
 * The kernel command line, for isolinux on ESXi and for qemu's `-append` alike.
 * `quiet` because every console byte is slow on an emulated UART; `panic=-1` so a guest whose
 * init dies reboots at once, which a VM (or qemu with `-no-reboot`) turns into an exit.
 */
export const KERNEL_CMDLINE = 'console=ttyS0 quiet panic=-1';

/** ISO volume id, and the marker file by which init tells our CD from any other. */
export const VOLUME_ID = 'VCH_BOOTSTRAP';
export const MANIFEST_NAME = 'vch-bootstrap.json';

/** Where init mounts the CD in the guest. */
export const GUEST_MOUNT = '/vch';

/**
 * Bump when the build recipe changes in a way the inputs above do not show (the cpio writer,
 * the ISO options, the layout), so old cache entries are not taken for new ones.
 */
export const RECIPE_VERSION = 2;
