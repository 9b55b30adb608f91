/**
 * A VMDK to the file qemu opens. A flat VMDK is a text descriptor naming a raw extent
 * (`RW 2048 FLAT "name-flat.vmdk" 0` from hosted products, `RW 2048 VMFS "name-flat.vmdk"` as ESXi
 * writes it); vcsim writes the descriptor and the extent as empty
 * files, so an empty descriptor means the `-flat.vmdk` beside it. The extent is grown
 * (sparsely) to the disk's capacity, as ESXi's flat extent always has it.
 *
 * A child disk (a backing with a `parent`, as a linked clone has) runs as a qcow2 overlay
 * kept beside the child's VMDK (`name-delta.qcow2`), backed by its parent's file: the
 * parent stays untouched and the child's writes persist across power cycles.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { QemuDrive } from './qemuArgs';

const run = promisify(execFile);

/** A descriptor is small text; anything bigger (or binary) is a disk of its own. */
const MAX_DESCRIPTOR_BYTES = 64 * 1024;

export async function extentOf(vmdk: string): Promise<string> {
  const st = await stat(vmdk);
  if (st.size > 0 && st.size <= MAX_DESCRIPTOR_BYTES) {
    const text = await readFile(vmdk, 'utf8');
    if (text.startsWith('# Disk DescriptorFile')) {
      const m = /^\s*RW\s+\d+\s+(?:FLAT|VMFS)\s+"([^"]+)"/m.exec(text);
      if (!m) throw new Error(`${vmdk}: only flat VMDKs are supported`);
      return path.resolve(path.dirname(vmdk), m[1]);
    }
  }
  const flat = vmdk.replace(/\.vmdk$/, '-flat.vmdk');
  if (st.size === 0 && flat !== vmdk && existsSync(flat)) return flat;
  return vmdk;
}

/**
 * The drive for a disk: `chain` is the disk's VMDK then its parents' (local paths), nearest
 * first; a disk without parents is its raw extent.
 */
export async function driveFor(chain: readonly string[], capacityKB: number, readOnly: boolean): Promise<QemuDrive> {
  const [vmdk, ...parents] = chain;
  if (parents.length > 0) {
    const base = await driveFor(parents, 0, true);
    const overlay = vmdk.replace(/(\.vmdk)?$/, '-delta.qcow2');
    if (!existsSync(overlay)) {
      const size = capacityKB > 0 ? [`${capacityKB}K`] : [];
      await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', base.file, '-F', base.format, overlay, ...size]);
    }
    return { file: overlay, format: 'qcow2', readOnly };
  }
  const file = await extentOf(vmdk);
  const bytes = capacityKB * 1024;
  if (!readOnly && bytes > 0 && (await stat(file)).size < bytes) {
    const fh = await open(file, 'r+');
    try {
      await fh.truncate(bytes);
    } finally {
      await fh.close();
    }
  }
  return { file, format: 'raw', readOnly };
}
