/**
 * Datastore files against vcsim: FileManager and VirtualDiskManager calls with their faults,
 * streaming /folder PUT and GET of a multi-megabyte file, and datastore path helpers.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { VimClient } from '../../src/vsphere/client';
import {
  copyVirtualDisk,
  createVirtualDisk,
  type DatacenterRef,
  DatastoreTransferError,
  datastoreFolderUrlPath,
  datastorePathDir,
  deleteDatastoreFile,
  deleteVirtualDisk,
  downloadDatastoreFile,
  downloadToLocalFile,
  formatDatastorePath,
  joinDatastorePath,
  makeDirectory,
  moveDatastoreFile,
  parseDatastorePath,
  uploadDatastoreFile,
  uploadLocalFile,
} from '../../src/vsphere/datastore';
import { FileAlreadyExistsError, FileNotFoundError, InvalidArgumentError, VimFault } from '../../src/vsphere/faults';
import { Inventory } from '../../src/vsphere/inventory';
import type { VimContext } from '../../src/vsphere/tasks';
import { startVsphereSession, type VsphereSession } from '../helpers/vsphereSession';

jest.setTimeout(60_000);

const DS = 'LocalDS_0';

let session: VsphereSession;
let client: VimClient;
let ctx: VimContext;
let dc: DatacenterRef;
let dsDir: string;

beforeAll(async () => {
  session = await startVsphereSession();
  ({ client, ctx } = session);
  const datacenter = await new Inventory(client).datacenter();
  dc = { ref: datacenter.ref, path: datacenter.path };
  const local = session.sim.datastores.find((d) => d.name === DS);
  if (!local) throw new Error(`vcsim has no ${DS}: ${JSON.stringify(session.sim.datastores)}`);
  dsDir = local.path;
});

afterAll(async () => {
  await session?.close();
});

let counter = 0;
const unique = (prefix: string) => `${prefix}-${++counter}`;
const onDisk = (p: string) => path.join(dsDir, parseDatastorePath(p).path);

describe('datastore paths', () => {
  it('parses and formats [ds] paths', () => {
    expect(parseDatastorePath('[LocalDS_0] vch/images/disk.vmdk')).toEqual({
      datastore: 'LocalDS_0',
      path: 'vch/images/disk.vmdk',
    });
    expect(parseDatastorePath('[my ds]')).toEqual({ datastore: 'my ds', path: '' });
    expect(parseDatastorePath('[ds]/abs/x')).toEqual({ datastore: 'ds', path: 'abs/x' });
    expect(() => parseDatastorePath('no brackets')).toThrow(/not a datastore path/);
    expect(formatDatastorePath('ds', 'a/', '/b', 'c.vmdk')).toBe('[ds] a/b/c.vmdk');
    expect(formatDatastorePath('ds')).toBe('[ds]');
    expect(joinDatastorePath('a//b', '', 'c')).toBe('a/b/c');
    expect(datastorePathDir(parseDatastorePath('[ds] a/b/c.vmdk'))).toEqual({ datastore: 'ds', path: 'a/b' });
  });

  it('builds /folder URLs with escaped segments and query', () => {
    expect(datastoreFolderUrlPath({ ref: dc.ref, path: '/DC0' }, '[LocalDS_0] a dir/f&g.iso')).toBe(
      '/folder/a%20dir/f%26g.iso?dcPath=DC0&dsName=LocalDS_0',
    );
  });
});

describe('FileManager', () => {
  it('makes a directory, and a second time is FileAlreadyExists', async () => {
    const dir = formatDatastorePath(DS, unique('dir'));
    await makeDirectory(client, dc, dir);
    expect(existsSync(onDisk(dir))).toBe(true);
    const err = await makeDirectory(client, dc, dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileAlreadyExistsError);
  });

  it('makes parent directories when asked', async () => {
    const dir = formatDatastorePath(DS, unique('p'), 'q', 'r');
    await makeDirectory(client, dc, dir, true);
    expect(existsSync(onDisk(dir))).toBe(true);
  });

  it('MakeDirectory without a datacenter is InvalidArgument on vCenter (vcsim too)', async () => {
    const fm = client.serviceContent.fileManager!;
    const err = await client
      .invoke('MakeDirectory', fm, { name: formatDatastorePath(DS, unique('nodc')) })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
  });

  it('a datastore that does not exist is InvalidDatastore', async () => {
    const err = await makeDirectory(client, dc, '[NoSuchDS] x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VimFault);
    expect((err as VimFault).faultName).toBe('InvalidDatastore');
  });

  it('moves a file, refuses to overwrite unless forced, and deletes it', async () => {
    const dir = formatDatastorePath(DS, unique('mv'));
    await makeDirectory(client, dc, dir);
    const a = `${dir}/a.txt`;
    const b = `${dir}/b.txt`;
    await writeFile(onDisk(a), 'A');
    await writeFile(onDisk(b), 'B');
    const err = await moveDatastoreFile(ctx, dc, a, b).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileAlreadyExistsError);
    await moveDatastoreFile(ctx, dc, a, b, { force: true });
    expect(await readFile(onDisk(b), 'utf8')).toBe('A');
    expect(existsSync(onDisk(a))).toBe(false);
    await deleteDatastoreFile(ctx, dc, dir);
    expect(existsSync(onDisk(dir))).toBe(false);
  });

  it('deleting a file that does not exist is FileNotFound', async () => {
    const missing = formatDatastorePath(DS, unique('gone'), 'nothing.txt');
    const err = await deleteDatastoreFile(ctx, dc, missing).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileNotFoundError);
    expect((err as FileNotFoundError).file).toContain('nothing.txt');
  });
});

describe('VirtualDiskManager', () => {
  it('creates, copies and deletes a virtual disk', async () => {
    const dir = formatDatastorePath(DS, unique('disks'));
    await makeDirectory(client, dc, dir);
    const disk = `${dir}/vol.vmdk`;
    await createVirtualDisk(ctx, dc, disk, { capacityKB: 1024 * 1024 });
    expect(existsSync(onDisk(disk))).toBe(true);
    const copy = `${dir}/copy.vmdk`;
    await copyVirtualDisk(ctx, dc, disk, copy);
    expect(existsSync(onDisk(copy))).toBe(true);
    await deleteVirtualDisk(ctx, dc, disk);
    expect(existsSync(onDisk(disk))).toBe(false);
    expect(existsSync(onDisk(copy))).toBe(true);
  });

  it('creating a disk that exists is FileAlreadyExists', async () => {
    const disk = formatDatastorePath(DS, `${unique('twice')}.vmdk`);
    await createVirtualDisk(ctx, dc, disk, { capacityKB: 1024 });
    await expect(createVirtualDisk(ctx, dc, disk, { capacityKB: 1024 })).rejects.toBeInstanceOf(FileAlreadyExistsError);
  });

  it('copying onto an existing disk is FileAlreadyExists unless forced', async () => {
    const a = formatDatastorePath(DS, `${unique('ca')}.vmdk`);
    const b = formatDatastorePath(DS, `${unique('cb')}.vmdk`);
    await createVirtualDisk(ctx, dc, a, { capacityKB: 1024 });
    await createVirtualDisk(ctx, dc, b, { capacityKB: 1024 });
    await expect(copyVirtualDisk(ctx, dc, a, b)).rejects.toBeInstanceOf(FileAlreadyExistsError);
    await copyVirtualDisk(ctx, dc, a, b, { force: true });
  });

  it('deleting a disk that does not exist is FileNotFound', async () => {
    const err = await deleteVirtualDisk(ctx, dc, formatDatastorePath(DS, 'no-such-disk.vmdk')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileNotFoundError);
  });
});

describe('/folder transfers', () => {
  const SIZE = 24 * 1024 * 1024 + 12345;

  /** A stream of SIZE pseudo-random bytes made on the fly (never a whole buffer), and its hash. */
  function generated(seed: number): { stream: Readable; digest: () => string } {
    const hash = createHash('sha256');
    let sent = 0;
    let block = randomBytes(64 * 1024);
    const stream = new Readable({
      read() {
        if (sent >= SIZE) {
          this.push(null);
          return;
        }
        const n = Math.min(block.length, SIZE - sent);
        const chunk = Buffer.from(block.subarray(0, n));
        chunk[0] = (seed + sent) & 0xff;
        hash.update(chunk);
        sent += n;
        if (sent % (1024 * 1024) === 0) block = randomBytes(64 * 1024);
        this.push(chunk);
      },
    });
    return { stream, digest: () => hash.digest('hex') };
  }

  it('streams a multi-MB file up and down with matching content', async () => {
    const file = formatDatastorePath(DS, unique('stream'), 'layer.tar');
    await makeDirectory(client, dc, datastorePathDirText(file));
    const { stream, digest } = generated(7);
    await uploadDatastoreFile(client, dc, file, stream, { size: SIZE });
    const sent = digest();
    const local = await readFile(onDisk(file));
    expect(local.length).toBe(SIZE);
    expect(createHash('sha256').update(local).digest('hex')).toBe(sent);

    const body = await downloadDatastoreFile(client, dc, file);
    const hash = createHash('sha256');
    let received = 0;
    let largestChunk = 0;
    for await (const chunk of body) {
      const b = chunk as Buffer;
      received += b.length;
      largestChunk = Math.max(largestChunk, b.length);
      hash.update(b);
    }
    expect(received).toBe(SIZE);
    expect(hash.digest('hex')).toBe(sent);
    // It arrived in pieces as it was read, not as one buffered body.
    expect(largestChunk).toBeLessThan(SIZE / 4);
  });

  it('uploads without a known size (chunked) too', async () => {
    const file = formatDatastorePath(DS, `${unique('chunked')}.bin`);
    const { stream, digest } = generated(9);
    await uploadDatastoreFile(client, dc, file, stream);
    expect(
      createHash('sha256')
        .update(await readFile(onDisk(file)))
        .digest('hex'),
    ).toBe(digest());
  });

  it('uploads and downloads local files', async () => {
    const tmp = await mkdtemp(path.join(tmpdir(), 'vch-ds-'));
    try {
      const src = path.join(tmp, 'in.iso');
      const dst = path.join(tmp, 'out.iso');
      await writeFile(src, randomBytes(3 * 1024 * 1024));
      const file = formatDatastorePath(DS, `${unique('local')}.iso`);
      await uploadLocalFile(client, dc, src, file);
      await downloadToLocalFile(client, dc, file, dst);
      expect((await readFile(dst)).equals(await readFile(src))).toBe(true);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });

  it('a GET of a missing file is a DatastoreTransferError with the status', async () => {
    const err = await downloadDatastoreFile(client, dc, formatDatastorePath(DS, 'missing/file.bin')).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DatastoreTransferError);
    expect((err as DatastoreTransferError).status).toBe(404);
  });
});

function datastorePathDirText(file: string): string {
  const dir = datastorePathDir(parseDatastorePath(file));
  return formatDatastorePath(dir.datastore, dir.path);
}
