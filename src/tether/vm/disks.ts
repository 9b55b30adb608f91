/**
 * Finding the container's disks by SCSI unit. The hypervisor puts unit u of the first
 * SCSI controller at target u (the box's host agent: `scsi-id` = unit, serial
 * `vch-unit-<u>`; ESXi's pvscsi does the same with targets), and there is no udev in the
 * guest: so /sys/block is read directly, the serial (VPD page 0x80) preferred, the
 * target of the disk's `h:c:t:l` otherwise. Hot-added disks show up a moment (~0.2 s)
 * after the hypervisor adds them, hence the wait.
 */
import { readdir, readFile, readlink } from 'node:fs/promises';
import { basename } from 'node:path';

/** The unit a block device sits at, or undefined for one that is not a SCSI disk of ours. */
export async function unitOf(block: string): Promise<number | undefined> {
  const serial = await readFile(`/sys/block/${block}/device/vpd_pg80`).catch(() => undefined);
  if (serial && serial.length > 4) {
    // VPD page 0x80: 4-byte header, then the serial (space padded).
    const m = /^vch-unit-(?:(\d+)-)?(\d+)$/.exec(serial.subarray(4).toString('latin1').trim());
    if (m) return (m[1] ? Number(m[1]) * 16 : 0) + Number(m[2]);
  }
  const link = await readlink(`/sys/block/${block}/device`).catch(() => undefined);
  const hctl = link ? /^(\d+):(\d+):(\d+):(\d+)$/.exec(basename(link)) : null;
  return hctl ? Number(hctl[3]) : undefined;
}

/** Device paths (`/dev/sdX`) for `units`, waiting up to `timeoutMs` for all to appear. */
export async function waitForDisks(units: readonly number[], timeoutMs: number): Promise<Map<number, string>> {
  const found = new Map<number, string>();
  const known = new Set<string>();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const block of await readdir('/sys/block').catch(() => [] as string[])) {
      if (!block.startsWith('sd') || known.has(block)) continue;
      const unit = await unitOf(block);
      if (unit === undefined) continue;
      known.add(block);
      found.set(unit, `/dev/${block}`);
    }
    const missing = units.filter((u) => !found.has(u));
    if (missing.length === 0) return found;
    if (Date.now() > deadline) {
      throw new Error(`disk${missing.length > 1 ? 's' : ''} on SCSI unit ${missing.join(', ')} did not appear`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}
