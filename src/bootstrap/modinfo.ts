/**
 * Reads a kernel module's `.modinfo` section straight from the ELF file.
 *
 * Debian's unpacked kernel package ships no `modules.dep`, and the build host may lack
 * `modinfo`/`depmod`, so we read `name=` and `depends=` ourselves: the section is a run of
 * NUL-terminated `key=value` strings.
 */

export interface ModuleInfo {
  /** The module's name as the kernel knows it (underscores, e.g. `virtio_rng` for virtio-rng.ko). */
  name: string;
  /** Names of the modules it needs loaded first. */
  depends: string[];
}

const ELF_MAGIC = 0x7f454c46;

/** Returns every `key=value` pair of the `.modinfo` section, in file order (keys may repeat). */
export function readModinfoPairs(elf: Buffer): Array<[string, string]> {
  if (elf.length < 64 || elf.readUInt32BE(0) !== ELF_MAGIC) throw new Error('not an ELF file');
  if (elf[4] !== 2 || elf[5] !== 1) throw new Error('only little-endian ELF64 modules are supported');
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const shentsize = elf.readUInt16LE(0x3a);
  const shnum = elf.readUInt16LE(0x3c);
  const shstrndx = elf.readUInt16LE(0x3e);
  const section = (i: number): { name: number; offset: number; size: number } => {
    const at = shoff + i * shentsize;
    return {
      name: elf.readUInt32LE(at),
      offset: Number(elf.readBigUInt64LE(at + 0x18)),
      size: Number(elf.readBigUInt64LE(at + 0x20)),
    };
  };
  const names = section(shstrndx);
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    const start = names.offset + s.name;
    const end = elf.indexOf(0, start);
    if (elf.toString('latin1', start, end) !== '.modinfo') continue;
    return elf
      .toString('utf8', s.offset, s.offset + s.size)
      .split('\0')
      .filter((entry) => entry.includes('='))
      .map((entry): [string, string] => {
        const eq = entry.indexOf('=');
        return [entry.slice(0, eq), entry.slice(eq + 1)];
      });
  }
  throw new Error('no .modinfo section');
}

/** Name and dependencies of a module; `fallbackName` (from the file name) if it has no `name=`. */
export function readModuleInfo(elf: Buffer, fallbackName: string): ModuleInfo {
  const pairs = readModinfoPairs(elf);
  const name = pairs.find(([k]) => k === 'name')?.[1] ?? fallbackName.replace(/-/g, '_');
  const depends = pairs
    .filter(([k]) => k === 'depends')
    .flatMap(([, v]) => v.split(','))
    .filter((d) => d.length > 0);
  return { name, depends };
}
