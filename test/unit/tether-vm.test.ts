/** The pure parts of the tether's VM wiring: the spec parser and the root's mount steps. */
import { parseContainerVmSpec } from '../../src/tether/protocol/containerSpec';
import { hostsFile, identitySteps } from '../../src/tether/vm/identity';
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
  it('waits for the disks, mounts the layers read-only by SCSI unit, stacks them top first over the rw disk, then the kernel filesystems', () => {
    const spec = parseContainerVmSpec(JSON.stringify(valid));
    const steps = rootSteps(spec, 60_000);
    expect(steps.slice(0, 4)).toEqual([
      ['disks', '60000', '0', '1', '2'],
      ['mount', 'scsi-unit:0', '/run/vch/layers/0', 'ext4', 'ro', '-'],
      ['mount', 'scsi-unit:1', '/run/vch/layers/1', 'ext4', 'ro', '-'],
      ['mount', 'scsi-unit:2', '/run/vch/rw', 'ext4', 'rw', 'noinit_itable'],
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
});

describe('VM identity', () => {
  it('names the container in /etc/hosts', () => {
    const text = hostsFile({ ...parseContainerVmSpec(JSON.stringify(valid)), hosts: ['10.0.0.9 db'] });
    expect(text).toContain('127.0.1.1\taaaaaaaaaaaa\n');
    expect(text).toContain('10.0.0.9 db\n');
  });

  it('writes the names as helper steps: the kernel’s hostname and domain, the root’s hosts, resolv.conf and hostname', () => {
    const spec = parseContainerVmSpec(JSON.stringify({ ...valid, domainname: 'example.org' }));
    expect(identitySteps(spec, '/run/vch/root')).toEqual([
      ['write', '/proc/sys/kernel/hostname', 'aaaaaaaaaaaa'],
      ['write', '/proc/sys/kernel/domainname', 'example.org'],
      ['mkdir', '/run/vch/root/etc'],
      ['write', '/run/vch/root/etc/hosts', hostsFile(spec)],
      ['write', '/run/vch/root/etc/resolv.conf', 'nameserver 10.0.0.2\n'],
      ['write', '/run/vch/root/etc/hostname', 'aaaaaaaaaaaa\n'],
    ]);
    const plain = parseContainerVmSpec(JSON.stringify({ ...valid, dns: undefined }));
    expect(identitySteps(plain, '/r')).not.toContainEqual(expect.arrayContaining(['/proc/sys/kernel/domainname']));
    expect(identitySteps(plain, '/r')).toContainEqual(['write', '/r/etc/resolv.conf', '']);
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
