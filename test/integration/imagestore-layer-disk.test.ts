/**
 * Layer tar → ext4 image, without vSphere: the box's test image layers built with mke2fs -d
 * and debugfs, then read back with debugfs (no mounting).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGzip, gunzipSync } from 'node:zlib';
import { type Header, pack } from 'tar-stream';
import { buildLayerDisk, DiffIdMismatchError } from '../../src/portlayer/storage/images/build-layer-disk';
import { UnsafeLayerPathError } from '../../src/portlayer/storage/images/whiteouts';
import { buildTestImages } from '../../src/simulator/registry';
import { type BuiltTestImages, blobPath } from '../../src/simulator/registry/test-images';

const run = promisify(execFile);

async function debugfs(image: string, command: string): Promise<string> {
  const { stdout } = await run('debugfs', ['-R', command, image]);
  return stdout;
}

async function diffIdOf(images: BuiltTestImages, configDigest: string, index: number): Promise<string> {
  const config = JSON.parse((await readFile(blobPath(images.dir, configDigest))).toString()) as {
    rootfs: { diff_ids: string[] };
  };
  return config.rootfs.diff_ids[index]!;
}

let images: BuiltTestImages;
let work: string;

beforeAll(async () => {
  images = await buildTestImages();
  work = await mkdtemp(join(tmpdir(), 'vch-layerdisk-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

test('busybox layer: the binary, its applet symlinks, no lost+found, clean fsck', async () => {
  const img = images.images.busybox;
  const started = Date.now();
  const disk = await buildLayerDisk(blobPath(images.dir, img.layers[0]!.digest), {
    workDir: join(work, 'busybox'),
    expectedDiffId: await diffIdOf(images, img.config.digest, 0),
  });
  const elapsed = Date.now() - started;
  expect(disk.capacityBytes % (1024 * 1024)).toBe(0);
  const bin = await debugfs(disk.imagePath, 'ls -l /bin');
  expect(bin).toMatch(/100755 \(1\)\s+0\s+0\s+\d+ .* busybox/);
  expect(bin).toMatch(/120777 \(7\)\s+0\s+0\s+7 .* sh\n/);
  const root = await debugfs(disk.imagePath, 'ls /');
  expect(root).not.toContain('lost+found');
  expect(await debugfs(disk.imagePath, 'stat /tmp')).toContain('Mode:  01777');
  await run('e2fsck', ['-fn', disk.imagePath]);
  console.log(`busybox layer disk: ${disk.capacityBytes / 1048576} MiB in ${elapsed} ms`, disk.stats);
});

test('layers image top layer: whiteout char 0/0, opaque xattr, hard link on one inode', async () => {
  const img = images.images.layers;
  const disk = await buildLayerDisk(blobPath(images.dir, img.layers[2]!.digest), {
    workDir: join(work, 'top'),
    expectedDiffId: await diffIdOf(images, img.config.digest, 2),
  });
  const gone = await debugfs(disk.imagePath, 'stat /data/gone.txt');
  expect(gone).toContain('Type: character special');
  expect(gone).toMatch(/Device major\/minor number: 00:00/);
  expect(await debugfs(disk.imagePath, 'ea_list /data/opaque')).toContain('trusted.overlay.opaque (1) = "y"');
  expect(await debugfs(disk.imagePath, 'ls /data/opaque')).not.toContain('.wh.');
  const linked = await debugfs(disk.imagePath, 'ls -l /data/linked');
  const inodes = [...linked.matchAll(/^\s*(\d+)\s+100644 \(1\).*\s(original|hardlink)\.txt\s*$/gm)].map((m) => m[1]);
  expect(inodes).toHaveLength(2);
  expect(inodes[0]).toBe(inodes[1]);
  await run('e2fsck', ['-fn', disk.imagePath]);
});

test('a layer whose content does not match the config diff_id is refused', async () => {
  const img = images.images.httpd;
  await expect(
    buildLayerDisk(blobPath(images.dir, img.layers[1]!.digest), {
      workDir: join(work, 'bad'),
      expectedDiffId: `sha256:${'0'.repeat(64)}`,
    }),
  ).rejects.toBeInstanceOf(DiffIdMismatchError);
});

/** A layer tar made here, with what the test images lack: devices, setuid, xattrs, owners. */
async function makeLayer(path: string, entries: { header: Partial<Header> & { name: string }; body?: string }[]) {
  const tar = pack();
  const done = pipeline(tar, createGzip(), createWriteStream(path));
  for (const e of entries) tar.entry({ mtime: new Date('2024-01-01T00:00:00Z'), ...e.header }, e.body ?? '');
  tar.finalize();
  await done;
  const hash = createHash('sha256');
  hash.update(gunzipSync(await readFile(path)));
  return `sha256:${hash.digest('hex')}`;
}

test('devices, a FIFO, setuid, owners and PAX xattrs reach the disk', async () => {
  const blob = join(work, 'special.tar.gz');
  const diffId = await makeLayer(blob, [
    { header: { name: 'dev/', type: 'directory', mode: 0o755 } },
    { header: { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 } },
    { header: { name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0, mode: 0o660, gid: 6 } },
    { header: { name: 'run.fifo', type: 'fifo', mode: 0o600 } },
    { header: { name: 'su', type: 'file', mode: 0o4755 }, body: 'x' },
    { header: { name: 'home/app/', type: 'directory', mode: 0o750, uid: 1000, gid: 1000 } },
    {
      header: {
        name: 'home/app/f',
        type: 'file',
        mode: 0o640,
        uid: 1000,
        gid: 1000,
        pax: { 'SCHILY.xattr.user.note': 'hi' },
      },
      body: 'data',
    },
  ]);
  const disk = await buildLayerDisk(blob, { workDir: join(work, 'special'), expectedDiffId: diffId });
  const dev = await debugfs(disk.imagePath, 'ls -l /dev');
  expect(dev).toMatch(/20666 \(3\)\s+0\s+0\s+0 .* null/);
  expect(dev).toMatch(/60660 \(4\)\s+0\s+6\s+0 .* sda/);
  expect(await debugfs(disk.imagePath, 'stat /dev/null')).toContain('Device major/minor number: 01:03');
  expect(await debugfs(disk.imagePath, 'stat /dev/sda')).toContain('Device major/minor number: 08:00');
  expect(await debugfs(disk.imagePath, 'stat /run.fifo')).toContain('Type: FIFO');
  expect(await debugfs(disk.imagePath, 'stat /su')).toContain('Mode:  04755');
  const home = await debugfs(disk.imagePath, 'ls -l /home/app');
  expect(home).toMatch(/100640 \(1\)\s+1000\s+1000\s+4 .* f/);
  expect(await debugfs(disk.imagePath, 'ea_list /home/app/f')).toContain('user.note (2) = "hi"');
  expect(await debugfs(disk.imagePath, 'stat /home/app')).toContain('mtime: 0x65920080');
  await run('e2fsck', ['-fn', disk.imagePath]);
});

test('a layer that writes through its own symlink is refused', async () => {
  const blob = join(work, 'evil.tar.gz');
  const diffId = await makeLayer(blob, [
    { header: { name: 'escape', type: 'symlink', linkname: '/tmp' } },
    { header: { name: 'escape/owned', type: 'file', mode: 0o644 }, body: 'x' },
  ]);
  await expect(buildLayerDisk(blob, { workDir: join(work, 'evil'), expectedDiffId: diffId })).rejects.toBeInstanceOf(
    UnsafeLayerPathError,
  );
});
