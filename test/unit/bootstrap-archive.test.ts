import { type CpioEntry, writeCpio } from '../../src/bootstrap/cpio';
import { appletLinks } from '../../src/bootstrap/initramfs';
import { canonicalJson, hashInputs } from '../../src/bootstrap/inputsHash';
import { isoTimestring, xorrisoArgs } from '../../src/bootstrap/iso';
import { parseLdd } from '../../src/bootstrap/nodeRuntime';

interface Parsed {
  name: string;
  mode: number;
  mtime: number;
  ino: number;
  rdev: [number, number];
  data: Buffer;
}

/** Reads a newc archive back, checking the alignment the kernel insists on. */
function readCpio(buf: Buffer): Parsed[] {
  const out: Parsed[] = [];
  let at = 0;
  for (;;) {
    expect(at % 4).toBe(0);
    expect(buf.toString('latin1', at, at + 6)).toBe('070701');
    const field = (i: number) => Number.parseInt(buf.toString('latin1', at + 6 + i * 8, at + 14 + i * 8), 16);
    const [ino, mode, , , , mtime, size, , , rmaj, rmin, namesize] = Array.from({ length: 12 }, (_, i) => field(i));
    const name = buf.toString('latin1', at + 110, at + 110 + namesize - 1);
    const dataAt = Math.ceil((at + 110 + namesize) / 4) * 4;
    at = Math.ceil((dataAt + size) / 4) * 4;
    if (name === 'TRAILER!!!') return out;
    out.push({ name, mode, mtime, ino, rdev: [rmaj, rmin], data: buf.subarray(dataAt, dataAt + size) });
  }
}

describe('cpio newc writer', () => {
  const entries: CpioEntry[] = [
    { path: 'lib/modules/virtio.ko', type: 'file', data: Buffer.from('abc') },
    { path: '/init', type: 'file', data: Buffer.from('#!/bin/sh\n'), mode: 0o755 },
    { path: 'bin/sh', type: 'symlink', target: '/bin/busybox' },
    { path: 'dev/console', type: 'char', major: 5, minor: 1 },
  ];

  it('adds parents, sorts, and writes modes, devices and one mtime', () => {
    const parsed = readCpio(writeCpio(entries, 1704067200));
    expect(parsed.map((p) => p.name)).toEqual([
      'bin',
      'bin/sh',
      'dev',
      'dev/console',
      'init',
      'lib',
      'lib/modules',
      'lib/modules/virtio.ko',
    ]);
    const by = new Map(parsed.map((p) => [p.name, p]));
    expect(by.get('init')?.mode).toBe(0o100755);
    expect(by.get('init')?.data.toString()).toBe('#!/bin/sh\n');
    expect(by.get('bin/sh')?.mode).toBe(0o120777);
    expect(by.get('bin/sh')?.data.toString()).toBe('/bin/busybox');
    expect(by.get('dev/console')?.mode).toBe(0o020600);
    expect(by.get('dev/console')?.rdev).toEqual([5, 1]);
    expect(by.get('lib')?.mode).toBe(0o040755);
    expect(new Set(parsed.map((p) => p.mtime))).toEqual(new Set([1704067200]));
    expect(parsed.map((p) => p.ino)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('is the same bytes whatever the input order', () => {
    expect(writeCpio([...entries].reverse(), 1).equals(writeCpio(entries, 1))).toBe(true);
  });

  it('rejects duplicates, escapes and files used as directories', () => {
    expect(() => writeCpio([...entries, { path: 'init', type: 'dir' }], 0)).toThrow(/duplicate/);
    expect(() => writeCpio([{ path: '../etc', type: 'dir' }], 0)).toThrow(/bad cpio path/);
    expect(() => writeCpio([...entries, { path: 'init/x', type: 'dir' }], 0)).toThrow(/not a directory/);
  });
});

describe('parseLdd', () => {
  it('returns the loader and resolved libraries, without the vDSO', () => {
    const out = `\tlinux-vdso.so.1 (0x00007ffd1d7f5000)
\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f5037800000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f503753e000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f5037acd000)
`;
    expect(parseLdd(out)).toEqual([
      '/lib/x86_64-linux-gnu/libc.so.6',
      '/lib/x86_64-linux-gnu/libstdc++.so.6',
      '/lib64/ld-linux-x86-64.so.2',
    ]);
  });

  it('fails on a library that is not found', () => {
    expect(() => parseLdd('\tlibfoo.so.1 => not found\n')).toThrow(/missing/);
  });
});

describe('busybox applet links', () => {
  it('links every applet but busybox itself to /bin/busybox', () => {
    expect(appletLinks('bin/busybox\nbin/sh\nsbin/insmod\n\n')).toEqual([
      { path: 'bin/sh', type: 'symlink', target: '/bin/busybox' },
      { path: 'sbin/insmod', type: 'symlink', target: '/bin/busybox' },
    ]);
  });
});

describe('ISO and inputs hash', () => {
  it('formats SOURCE_DATE_EPOCH as an xorriso timestring in UTC', () => {
    expect(isoTimestring(1704067200)).toBe('2024010100000000');
    expect(isoTimestring(1700000000)).toBe('2023111422132000');
  });

  it('lists graft points in path order, boot options before them', () => {
    const args = xorrisoArgs(
      {
        volumeId: 'V',
        files: new Map([
          ['tether', '/t'],
          ['boot/vmlinuz', '/k'],
        ]),
        bootImage: 'isolinux/isolinux.bin',
        bootCatalog: 'isolinux/boot.cat',
      },
      '/out.iso',
      0,
    );
    expect(args.slice(-2)).toEqual(['boot/vmlinuz=/k', 'tether=/t']);
    expect(args.indexOf('-b')).toBeLessThan(args.indexOf('boot/vmlinuz=/k'));
    expect(args).toContain('--set_all_file_dates');
  });

  it('hashes inputs independently of key order', () => {
    expect(canonicalJson({ b: [1, { d: 2, c: 3 }], a: 'x' })).toBe('{"a":"x","b":[1,{"c":3,"d":2}]}');
    expect(hashInputs({ a: 1, b: 2 })).toBe(hashInputs({ b: 2, a: 1 }));
    expect(hashInputs({ a: 1 })).not.toBe(hashInputs({ a: 2 }));
  });
});
