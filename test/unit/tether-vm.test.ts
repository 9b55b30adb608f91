/** The pure parts of the tether's VM wiring: the spec parser and the root's mount steps. */
import { parseContainerVmSpec } from '../../src/tether/protocol/containerSpec';
import { hostsFile } from '../../src/tether/vm/identity';
import { rootSteps } from '../../src/tether/vm/rootfs';
import { cloneSteps } from '../../src/tether/vm/system';

const id = 'a'.repeat(64);
const valid = {
  id,
  name: 'web',
  hostname: 'aaaaaaaaaaaa',
  process: { argv: ['echo', 'hi'], env: ['A=1'], tty: false },
  openStdin: false,
  stdinOnce: false,
  layers: [
    { unit: 0, diffId: 'sha256:bottom' },
    { unit: 1, diffId: 'sha256:top' },
  ],
  rwDisk: { unit: 2 },
  dns: ['10.0.0.2'],
};

describe('parseContainerVmSpec', () => {
  it('accepts the documented shape', () => {
    expect(parseContainerVmSpec(JSON.stringify(valid))).toEqual(valid);
  });

  it.each([
    ['not json', '{', /not JSON/],
    ['a bad id', JSON.stringify({ ...valid, id: 'x' }), /id must be 64/],
    ['an empty argv', JSON.stringify({ ...valid, process: { argv: [] } }), /argv/],
    ['the controller unit', JSON.stringify({ ...valid, rwDisk: { unit: 7 } }), /rwDisk.unit/],
    ['a shared unit', JSON.stringify({ ...valid, rwDisk: { unit: 1 } }), /two disks/],
    ['no openStdin', JSON.stringify({ ...valid, openStdin: undefined }), /openStdin/],
  ])('refuses %s', (_what, text, message) => {
    expect(() => parseContainerVmSpec(text)).toThrow(message);
  });
});

describe('rootSteps', () => {
  it('mounts the layers read-only, stacks them top first over the rw disk, then the kernel filesystems', () => {
    const spec = parseContainerVmSpec(JSON.stringify(valid));
    const steps = rootSteps(
      spec,
      new Map([
        [0, '/dev/sdb'],
        [1, '/dev/sda'],
        [2, '/dev/sdc'],
      ]),
    );
    expect(steps.slice(0, 3)).toEqual([
      ['mount', '/dev/sdb', '/run/vch/layers/0', 'ext4', 'ro', '-'],
      ['mount', '/dev/sda', '/run/vch/layers/1', 'ext4', 'ro', '-'],
      ['mount', '/dev/sdc', '/run/vch/rw', 'ext4', 'rw', 'noinit_itable'],
    ]);
    expect(steps).toContainEqual([
      'mount',
      'overlay',
      '/run/vch/root',
      'overlay',
      'rw',
      'lowerdir=/run/vch/layers/1:/run/vch/layers/0,upperdir=/run/vch/rw/upper,workdir=/run/vch/rw/work',
    ]);
    expect(steps.map((s) => s[2])).toEqual(
      expect.arrayContaining(['/run/vch/root/proc', '/run/vch/root/dev', '/run/vch/root/dev/pts']),
    );
  });

  it('fails on a missing disk', () => {
    expect(() => rootSteps(parseContainerVmSpec(JSON.stringify(valid)), new Map())).toThrow(/SCSI unit 0/);
  });
});

describe('VM identity', () => {
  it('names the container in /etc/hosts', () => {
    const text = hostsFile({ ...parseContainerVmSpec(JSON.stringify(valid)), hosts: ['10.0.0.9 db'] });
    expect(text).toContain('127.0.1.1\taaaaaaaaaaaa\n');
    expect(text).toContain('10.0.0.9 db\n');
  });

  it('sets clock and seed only from values that parse', () => {
    const log = jest.fn();
    expect(cloneSteps('ab'.repeat(32), '1700000000000', log)).toEqual([
      ['settime', '1700000000000'],
      ['reseed', 'ab'.repeat(32)],
    ]);
    expect(cloneSteps('xyz', 'soon', log)).toEqual([]);
    expect(log).toHaveBeenCalledTimes(2);
  });
});
