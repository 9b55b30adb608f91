import { readModinfoPairs, readModuleInfo } from '../../src/bootstrap/modinfo';
import { type ModuleNode, orderModules } from '../../src/bootstrap/moduleOrder';

/** A minimal ELF64 little-endian file: a null section, `.modinfo` and the section-name table. */
function fakeModule(modinfo: string[]): Buffer {
  const info = Buffer.from(modinfo.map((s) => `${s}\0`).join(''));
  const shstrtab = Buffer.from('\0.modinfo\0.shstrtab\0');
  const infoAt = 64;
  const strAt = infoAt + info.length;
  const shoff = strAt + shstrtab.length;
  const elf = Buffer.alloc(shoff + 3 * 64);
  elf.writeUInt32BE(0x7f454c46, 0);
  elf[4] = 2; // ELFCLASS64
  elf[5] = 1; // little-endian
  elf.writeBigUInt64LE(BigInt(shoff), 0x28);
  elf.writeUInt16LE(64, 0x3a);
  elf.writeUInt16LE(3, 0x3c);
  elf.writeUInt16LE(2, 0x3e);
  info.copy(elf, infoAt);
  shstrtab.copy(elf, strAt);
  const section = (i: number, name: number, offset: number, size: number) => {
    const at = shoff + i * 64;
    elf.writeUInt32LE(name, at);
    elf.writeBigUInt64LE(BigInt(offset), at + 0x18);
    elf.writeBigUInt64LE(BigInt(size), at + 0x20);
  };
  section(1, 1, infoAt, info.length);
  section(2, 10, strAt, shstrtab.length);
  return elf;
}

describe('modinfo', () => {
  it('reads name and depends from .modinfo', () => {
    const elf = fakeModule(['license=GPL', 'depends=virtio_ring,virtio', 'name=virtio_rng', 'vermagic=6.1.0']);
    expect(readModinfoPairs(elf)).toContainEqual(['license', 'GPL']);
    expect(readModuleInfo(elf, 'virtio-rng')).toEqual({ name: 'virtio_rng', depends: ['virtio_ring', 'virtio'] });
  });

  it('takes an empty depends= as no dependencies and falls back to the file name', () => {
    expect(readModuleInfo(fakeModule(['depends=']), 'vmw-pvscsi')).toEqual({ name: 'vmw_pvscsi', depends: [] });
  });

  it('rejects what is not an ELF64 module', () => {
    expect(() => readModinfoPairs(Buffer.alloc(128))).toThrow(/not an ELF/);
    expect(() => readModinfoPairs(fakeModule([]).fill(0, 64))).toThrow();
  });
});

describe('orderModules', () => {
  const graph = (edges: Record<string, string[]>): Map<string, ModuleNode> =>
    new Map(Object.entries(edges).map(([name, depends]) => [name, { name, depends }]));
  const kernel = graph({
    virtio: [],
    virtio_ring: [],
    virtio_pci_modern_dev: [],
    virtio_pci_legacy_dev: [],
    virtio_pci: ['virtio_ring', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio'],
    scsi_common: [],
    scsi_mod: ['scsi_common'],
    cdrom: [],
    sr_mod: ['scsi_mod', 'cdrom', 'scsi_common'],
    virtio_scsi: ['scsi_mod', 'virtio_ring', 'virtio'],
    isofs: ['cdrom'],
    crc32c_generic: [],
    unused: [],
  });

  it('puts every module after its dependencies and adds the closure', () => {
    const order = orderModules(['sr_mod', 'virtio_scsi', 'virtio_pci', 'isofs'], kernel);
    expect(new Set(order)).toEqual(
      new Set([
        'virtio',
        'virtio_ring',
        'virtio_pci_modern_dev',
        'virtio_pci_legacy_dev',
        'virtio_pci',
        'scsi_common',
        'scsi_mod',
        'cdrom',
        'sr_mod',
        'virtio_scsi',
        'isofs',
      ]),
    );
    for (const [name, node] of kernel) {
      if (!order.includes(name)) continue;
      for (const dep of node.depends) expect(order.indexOf(dep)).toBeLessThan(order.indexOf(name));
    }
  });

  it('is the same whatever order the modules are asked for in', () => {
    expect(orderModules(['isofs', 'sr_mod', 'virtio_scsi'], kernel)).toEqual(
      orderModules(['virtio_scsi', 'isofs', 'sr_mod'], kernel),
    );
  });

  it('leaves out modules built into the kernel', () => {
    expect(orderModules(['sr_mod'], kernel, new Set(['cdrom', 'scsi_common']))).toEqual(['scsi_mod', 'sr_mod']);
  });

  it('names the module that needs a missing one, and finds cycles', () => {
    expect(() => orderModules(['a'], graph({ a: ['b'] }))).toThrow('kernel module b not found (needed by a)');
    expect(() => orderModules(['a'], graph({ a: ['b'], b: ['a'] }))).toThrow(/cycle: a -> b -> a/);
  });
});
