/**
 * The qemu command line for one VM, following FACTS.md's measured recipe: q35 under TCG
 * (the /dev/kvm here is a nested hypervisor that hangs stock kernels), direct kernel boot,
 * the bootstrap ISO as scsi-cd on virtio-scsi (the cloud kernel has no AHCI driver), and
 * virtio-serial ports for guestinfo and the backchannel (a 16550 stalls on bulk input).
 *
 * The device set is the same for every VM, whatever its config (an unused backchannel gets
 * a null chardev): a clone restored from a frozen template must have exactly the devices
 * the template had, or the migration stream does not load.
 */

import { GUESTINFO_PORT_NAME } from '../../tether/guestinfo';
import type { BootMedia } from './bootMedia';

export const BACKCHANNEL_PORT_NAME = 'org.vch.backchannel';

export interface QemuDrive {
  readonly file: string;
  readonly format: 'raw' | 'qcow2';
  readonly readOnly: boolean;
}

/**
 * A disk on the VM's SCSI bus: its block node (`id`) and scsi-hd device (`<id>-dev`) are
 * named so a hot remove can address them, and `source` says which API disk it is, so a
 * running VM's disks can be diffed against its config (`diskHotplug.ts`).
 */
export interface QemuDisk extends QemuDrive {
  readonly id: string;
  /** SCSI target id: the guest's h:c:t:l has t = target (`scsiTargetOf`). */
  readonly target: number;
  readonly serial: string;
  readonly source: string;
}

/**
 * The disks' own virtio-scsi controller, apart from the CD's: hot plug and unplug on the
 * CD's bus made the guest's in-flight reads from the CD fail (`I/O error, dev sr0`), and
 * the guest runs from that CD.
 */
export const DISK_SCSI_BUS = 'scsi1.0';
/** Units per vSphere SCSI controller: controller bus b, unit u is target 16·b + u. */
export const SCSI_UNITS_PER_BUS = 16;

export function scsiTargetOf(busNumber: number, unitNumber: number): number {
  return busNumber * SCSI_UNITS_PER_BUS + unitNumber;
}

/** The serial the guest reads from the disk (VPD page 0x80): names its unit. */
export function diskSerialOf(busNumber: number, unitNumber: number): string {
  return busNumber === 0 ? `vch-unit-${unitNumber}` : `vch-unit-${busNumber}-${unitNumber}`;
}

/** blockdev options (command line JSON and QMP `blockdev-add` alike) for a disk's node. */
export function blockdevOf(d: QemuDisk): Record<string, unknown> {
  return {
    driver: d.format,
    'node-name': d.id,
    'read-only': d.readOnly,
    file: { driver: 'file', filename: d.file },
  };
}

/** scsi-hd properties (QMP `device_add`); the command line gets the same as a string. */
export function scsiHdOf(d: QemuDisk): Record<string, string | number> {
  return {
    driver: 'scsi-hd',
    id: `${d.id}-dev`,
    drive: d.id,
    bus: DISK_SCSI_BUS,
    'scsi-id': d.target,
    serial: d.serial,
  };
}

export interface QemuPlan {
  readonly name: string;
  readonly memoryMiB: number;
  readonly cpus: number;
  readonly boot: BootMedia;
  readonly drives: readonly QemuDisk[];
  /** Backchannel target: `tcp://host:port` or `unix:///path`; absent gives a null chardev. */
  readonly backchannelUri?: string;
  /** Unix sockets the agent listens on before qemu starts (qemu connects as a client). */
  readonly guestinfoSocket: string;
  readonly qmpSocket: string;
  /** Guest console (ttyS0) goes here: the reason a guest died is usually in it. */
  readonly consoleLog: string;
  /** Guest RAM as a file: `share=on` so a freeze can keep it, `share=off` for a copy-on-write clone. */
  readonly ramFile: string;
  readonly ramShared: boolean;
  /** Start paused, waiting for `migrate-incoming` (instant clone restore). */
  readonly incoming?: boolean;
}

/** qemu option values escape a comma by doubling it. */
function optValue(s: string): string {
  return s.replace(/,/g, ',,');
}

/** A chardev socket option string for a serial port's serviceURI (the VM is the client). */
export function chardevForUri(id: string, uri: string): string {
  const u = new URL(uri);
  if (u.protocol === 'tcp:' || u.protocol === 'telnet:') {
    const host = u.hostname.replace(/^\[|\]$/g, '');
    if (!u.port) throw new Error(`serial port URI without a port: ${uri}`);
    return `socket,id=${id},host=${host},port=${u.port},reconnect=1`;
  }
  if (u.protocol === 'unix:') {
    const p = decodeURIComponent(u.pathname);
    if (!p) throw new Error(`unix serial port URI without a path: ${uri}`);
    return `socket,id=${id},path=${optValue(p)},reconnect=1`;
  }
  throw new Error(`unsupported serial port URI: ${uri}`);
}

export function qemuArgs(p: QemuPlan): string[] {
  const args = [
    '-name',
    optValue(p.name),
    '-M',
    'q35,memory-backend=ram0',
    // The translation cache. At 32 MiB (chosen once for RSS, FACTS.md) a clone running Node
    // filled it and qemu flushed and translated everything again: bench/container-start,
    // same session, instant p50 2.61 s and PSS 147 MB at 32 against 1.48 s and 161 MB at 256
    // (the buffer is touched only as far as it is used).
    '-accel',
    'tcg,tb-size=256',
    // rdrand: without it Node's first start waits on the guest's entropy pool.
    '-cpu',
    'qemu64,+rdrand',
    '-smp',
    String(p.cpus),
    '-m',
    `${p.memoryMiB}M`,
    '-object',
    `memory-backend-file,id=ram0,size=${p.memoryMiB}M,mem-path=${optValue(p.ramFile)},share=${p.ramShared ? 'on' : 'off'}`,
    '-nodefaults',
    '-display',
    'none',
    '-serial',
    `file:${optValue(p.consoleLog)}`,
    // A guest that powers off, reboots or panics (panic=-1) ends qemu: the agent then powers the VM off.
    '-no-reboot',
    '-kernel',
    p.boot.kernel,
    '-initrd',
    p.boot.initrd,
    '-append',
    p.boot.cmdline,
    '-chardev',
    `socket,id=qmp,path=${optValue(p.qmpSocket)}`,
    '-mon',
    'chardev=qmp,mode=control',
    '-device',
    'virtio-scsi-pci,id=scsi0',
    '-drive',
    `if=none,id=cd0,file=${optValue(p.boot.iso)},format=raw,media=cdrom,readonly=on`,
    '-device',
    'scsi-cd,drive=cd0,bus=scsi0.0,scsi-id=0',
    '-device',
    'virtio-scsi-pci,id=scsi1',
  ];
  // -blockdev, not -drive: a node made this way can be deleted by `blockdev-del` after a hot
  // remove, exactly like a hot-added one.
  for (const d of p.drives) {
    const { driver, ...props } = scsiHdOf(d);
    const device = Object.entries(props).map(([k, v]) => `${k}=${optValue(String(v))}`);
    args.push('-blockdev', JSON.stringify(blockdevOf(d)), '-device', [driver, ...device].join(','));
  }
  args.push(
    '-device',
    'virtio-serial-pci,id=vser0',
    '-chardev',
    `socket,id=guestinfo,path=${optValue(p.guestinfoSocket)}`,
    '-device',
    `virtserialport,bus=vser0.0,chardev=guestinfo,name=${GUESTINFO_PORT_NAME}`,
    '-chardev',
    p.backchannelUri ? chardevForUri('backchannel', p.backchannelUri) : 'null,id=backchannel',
    '-device',
    `virtserialport,bus=vser0.0,chardev=backchannel,name=${BACKCHANNEL_PORT_NAME}`,
  );
  if (p.incoming) args.push('-incoming', 'defer');
  return args;
}
