/** Builds the bootstrap image container VMs boot: kernel + initramfs + Node and the tether on a CD. */
export { type BootstrapImage, type BootstrapManifest, type BuildOptions, buildBootstrap, repoRoot } from './build';
export { checkPins, type PinStatus } from './pinCheck';
export { KERNEL_CMDLINE, MANIFEST_NAME, VOLUME_ID } from './pins';
export { type QemuBootOptions, qemuBootArgs } from './qemu';
