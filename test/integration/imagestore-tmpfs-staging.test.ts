/**
 * A layer's tree is unpacked on tmpfs when there is room, and on the local disk when not,
 * including when tmpfs fills up half way through (the room check is an estimate from the
 * compressed size). A small tmpfs of our own, mounted for the test (the tests run as root).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGzip } from 'node:zlib';
import { pack } from 'tar-stream';
import { stageLayerPreferringTmpfs } from '../../src/portlayer/storage/images/tmpfs-staging';

const run = promisify(execFile);
const MiB = 1024 * 1024;

jest.setTimeout(120_000);

let work: string;
let tmpfs: string;

/** A gzip layer of one file of `bytes` zeros (tiny compressed); resolves with its path and diff_id. */
async function zerosLayer(name: string, bytes: number): Promise<{ path: string; diffId: string; size: number }> {
  const tar = pack();
  const tarHash = createHash('sha256');
  const hashed = new PassThrough();
  hashed.on('data', (c: Buffer) => tarHash.update(c));
  const path = join(work, `${name}.tar.gz`);
  const written = pipeline(tar, hashed, createGzip(), createWriteStream(path));
  const entry = tar.entry({ name: 'zeros', size: bytes, mode: 0o644 });
  const chunk = Buffer.alloc(MiB);
  let left = bytes;
  for (; left > chunk.length; left -= chunk.length) {
    if (!entry.write(chunk)) await once(entry, 'drain');
  }
  entry.end(chunk.subarray(0, left));
  tar.finalize();
  await written;
  return { path, diffId: `sha256:${tarHash.digest('hex')}`, size: (await stat(path)).size };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'vch-tmpfs-staging-'));
  tmpfs = join(work, 'shm');
  await mkdir(tmpfs);
  // Room for the store's reserve (512 MiB) and a small layer, not for a 530 MiB one.
  await run('mount', ['-t', 'tmpfs', '-o', 'size=520m', 'tmpfs', tmpfs]);
});

afterAll(async () => {
  await run('umount', [tmpfs]).catch(() => undefined);
  await rm(work, { recursive: true, force: true });
});

test('a layer that fits is unpacked on tmpfs, and released from there', async () => {
  const layer = await zerosLayer('small', 2 * MiB);
  const lease = await stageLayerPreferringTmpfs(
    layer.path,
    { workDir: join(work, 'small-build'), expectedDiffId: layer.diffId },
    layer.size,
    tmpfs,
  );
  expect(lease.staged.stagingDir.startsWith(`${tmpfs}/`)).toBe(true);
  expect((await stat(join(lease.staged.stagingDir, 'zeros'))).size).toBe(2 * MiB);
  await lease.release();
  expect(await readdir(tmpfs)).toEqual([]);
});

test('a layer that fills tmpfs half way is unpacked again on the disk, nothing left on tmpfs', async () => {
  const layer = await zerosLayer('big', 530 * MiB);
  const workDir = join(work, 'big-build');
  // It passes the room check (8× its compressed size, plus 512 MiB): tmpfs runs out part way.
  const fs = await statfs(tmpfs);
  expect(fs.bavail * fs.bsize).toBeGreaterThanOrEqual(8 * layer.size + 512 * MiB);
  const lease = await stageLayerPreferringTmpfs(
    layer.path,
    { workDir, expectedDiffId: layer.diffId },
    layer.size,
    tmpfs,
  );
  expect(lease.staged.stagingDir.startsWith(`${workDir}/`)).toBe(true);
  expect((await stat(join(lease.staged.stagingDir, 'zeros'))).size).toBe(530 * MiB);
  expect(await readdir(tmpfs)).toEqual([]);
  await lease.release();
});
