/** Pure decisions of the layer → disk conversion: whiteouts, debugfs fixups, sizes, descriptors. */
import { debugfsErrors, debugfsScript } from '../../src/portlayer/storage/images/debugfs-script';
import {
  emptyStats,
  estimateDiskBytes,
  inodeCount,
  MIN_DISK_BYTES,
} from '../../src/portlayer/storage/images/disk-size';
import { flatExtentName, flatVmdkDescriptor } from '../../src/portlayer/storage/images/vmdk-descriptor';
import { classifyEntry, normalizeEntryPath, UnsafeLayerPathError } from '../../src/portlayer/storage/images/whiteouts';

const MIB = 1024 * 1024;

describe('whiteouts and opaque markers', () => {
  test('.wh.NAME hides NAME in the same directory', () => {
    expect(classifyEntry('data/.wh.gone.txt')).toEqual({ kind: 'whiteout', path: 'data/gone.txt' });
    expect(classifyEntry('./.wh.etc')).toEqual({ kind: 'whiteout', path: 'etc' });
  });
  test('.wh..wh..opq marks its directory opaque', () => {
    expect(classifyEntry('data/opaque/.wh..wh..opq')).toEqual({ kind: 'opaque', dir: 'data/opaque' });
    expect(classifyEntry('.wh..wh..opq')).toEqual({ kind: 'opaque', dir: '' });
  });
  test('AUFS bookkeeping is dropped, ordinary names pass', () => {
    expect(classifyEntry('.wh..wh.plnk/123.4')).toEqual({ kind: 'ignore', path: '.wh..wh.plnk/123.4' });
    expect(classifyEntry('.wh..wh.plnk')).toEqual({ kind: 'ignore', path: '.wh..wh.plnk' });
    expect(classifyEntry('usr/bin/')).toEqual({ kind: 'entry', path: 'usr/bin' });
    expect(classifyEntry('a.wh.b')).toEqual({ kind: 'entry', path: 'a.wh.b' });
  });
  test('paths are normalized and may not climb out', () => {
    expect(normalizeEntryPath('./a//b/./c/')).toBe('a/b/c');
    expect(normalizeEntryPath('/abs/x')).toBe('abs/x');
    expect(normalizeEntryPath('./')).toBe('');
    expect(() => normalizeEntryPath('a/../../etc/passwd')).toThrow(UnsafeLayerPathError);
    expect(() => classifyEntry('d/.wh.')).toThrow(UnsafeLayerPathError);
  });
});

describe('debugfs fixups', () => {
  test('a whiteout is a char 0/0 made in its directory; xattrs by value file; lost+found removed', () => {
    const script = debugfsScript(
      [
        {
          kind: 'node',
          path: 'data/gone file',
          type: 'char',
          major: 0,
          minor: 0,
          mode: 0,
          uid: 0,
          gid: 0,
          mtimeSec: 1704067200,
        },
        {
          kind: 'node',
          path: 'dev/null',
          type: 'char',
          major: 1,
          minor: 3,
          mode: 0o666,
          uid: 0,
          gid: 0,
          mtimeSec: 5.5,
        },
        { kind: 'node', path: 'pipe', type: 'fifo', major: 0, minor: 0, mode: 0o600, uid: 7, gid: 8, mtimeSec: 0 },
        { kind: 'xattr', path: 'data/opaque', name: 'trusted.overlay.opaque', valueFile: '/tmp/v' },
      ],
      { removeLostFound: true },
    );
    expect(script).toEqual([
      'rmdir /lost+found',
      'cd "/data"',
      'mknod "gone file" c 0 0',
      'sif "gone file" mode 020000',
      'sif "gone file" uid 0',
      'sif "gone file" gid 0',
      'sif "gone file" mtime @1704067200',
      'cd /',
      'cd "/dev"',
      'mknod "null" c 1 3',
      'sif "null" mode 020666',
      'sif "null" uid 0',
      'sif "null" gid 0',
      'sif "null" mtime @5',
      'cd /',
      'cd "/"',
      'mknod "pipe" p',
      'sif "pipe" mode 010600',
      'sif "pipe" uid 7',
      'sif "pipe" gid 8',
      'sif "pipe" mtime @0',
      'cd /',
      'ea_set -f "/tmp/v" "/data/opaque" trusted.overlay.opaque',
    ]);
    expect(debugfsScript([], { removeLostFound: false })).toEqual([]);
  });
  test('names debugfs cannot quote are refused, not mangled', () => {
    expect(() =>
      debugfsScript([{ kind: 'xattr', path: 'a"b', name: 'user.x', valueFile: '/v' }], { removeLostFound: false }),
    ).toThrow(UnsafeLayerPathError);
  });
  test('errors are stderr lines other than the banner', () => {
    expect(debugfsErrors('debugfs 1.47.0 (5-Feb-2023)\n')).toEqual([]);
    expect(debugfsErrors('debugfs 1.47.0 (5-Feb-2023)\nmknod: File exists\n')).toEqual(['mknod: File exists']);
  });
});

describe('disk size', () => {
  test('tiny layers get the minimum, whole MiB', () => {
    expect(estimateDiskBytes(emptyStats())).toBe(MIN_DISK_BYTES);
  });
  test('grows with content, leaves headroom, doubles per retry', () => {
    const stats = {
      ...emptyStats(),
      inodes: 10_000,
      fileBlockBytes: 100 * MIB,
      directories: 500,
      direntBytes: 300_000,
    };
    const size = estimateDiskBytes(stats);
    expect(size % MIB).toBe(0);
    expect(size).toBeGreaterThan(100 * MIB + 10_000 * 256);
    expect(size).toBeLessThan(130 * MIB);
    expect(estimateDiskBytes(stats, 1)).toBe(size * 2);
    expect(inodeCount(stats)).toBeGreaterThanOrEqual(11_000);
    expect(inodeCount(stats) % 32).toBe(0);
  });
});

describe('flat VMDK descriptor', () => {
  test('a vmfs descriptor naming its -flat extent in sectors', () => {
    const text = flatVmdkDescriptor({ capacityBytes: 8 * MIB, extentFileName: 'layer-flat.vmdk', seed: 'sha256:x' });
    expect(text).toContain('createType="vmfs"');
    expect(text).toContain('RW 16384 VMFS "layer-flat.vmdk"');
    expect(text).toMatch(/^CID=[0-9a-f]{8}$/m);
    expect(text).toContain('parentCID=ffffffff');
    expect(text).toContain('ddb.geometry.cylinders = "1"');
    expect(text).toMatch(/^ddb\.uuid = "([0-9a-f]{2} ){7}[0-9a-f]{2}-([0-9a-f]{2} ){7}[0-9a-f]{2}"$/m);
    // One layer, one descriptor: the same seed gives the same text.
    expect(flatVmdkDescriptor({ capacityBytes: 8 * MIB, extentFileName: 'layer-flat.vmdk', seed: 'sha256:x' })).toBe(
      text,
    );
  });
  test('rejects sizes that are not whole sectors and unquotable names', () => {
    expect(() => flatVmdkDescriptor({ capacityBytes: 1000, extentFileName: 'a-flat.vmdk', seed: '' })).toThrow(
      RangeError,
    );
    expect(() => flatVmdkDescriptor({ capacityBytes: 512, extentFileName: 'a"-flat.vmdk', seed: '' })).toThrow(
      RangeError,
    );
    expect(flatExtentName('layer.vmdk')).toBe('layer-flat.vmdk');
  });
});
