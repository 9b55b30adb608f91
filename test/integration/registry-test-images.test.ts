/**
 * The box's test images: built from Debian's busybox-static without Docker, reproducibly,
 * with the layer features the image store must handle.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { createGunzip } from 'node:zlib';
import { extract, type Header } from 'tar-stream';
import { buildTestImages, HTTPD_INDEX_HTML, readBlob } from '../../src/simulator/registry';
import type { BuiltTestImages } from '../../src/simulator/registry/test-images';

async function listLayer(images: BuiltTestImages, digest: string): Promise<Map<string, Header & { body: string }>> {
  const entries = new Map<string, Header & { body: string }>();
  const tar = extract();
  Readable.from(await readBlob(images, digest))
    .pipe(createGunzip())
    .pipe(tar);
  for await (const entry of tar) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    const body = entry.header.size && entry.header.size < 4096 ? Buffer.concat(chunks).toString() : '';
    entries.set(entry.header.name, { ...entry.header, body });
  }
  return entries;
}

describe('test images built from Debian packages', () => {
  let images: BuiltTestImages;

  beforeAll(async () => {
    images = await buildTestImages();
  });

  test('busybox: the static binary and a /bin symlink for every applet it lists', async () => {
    const base = await listLayer(images, images.images.busybox.layers[0]!.digest);
    expect(base.get('bin/busybox')).toMatchObject({ type: 'file', mode: 0o755 });
    expect(base.get('bin/sh')).toMatchObject({ type: 'symlink', linkname: 'busybox' });
    expect(base.get('tmp/')).toMatchObject({ type: 'directory', mode: 0o1777 });
    const { stdout } = await promisify(execFile)('/bin/busybox', ['--list']);
    const links = [...base.values()].filter((e) => e.type === 'symlink').length;
    // The host's busybox is the same Debian build the image came from, when installed.
    if (images.busyboxVersion.includes('1.35')) {
      expect(links).toBe(
        stdout
          .trim()
          .split('\n')
          .filter((a) => a !== 'busybox').length,
      );
    }
    expect(links).toBeGreaterThan(200);
    expect([...base.values()].every((e) => e.mtime?.toISOString() === '2024-01-01T00:00:00.000Z')).toBe(true);
  });

  test('layers: a whiteout, an opaque directory and a hard link in the top layer', async () => {
    const top = await listLayer(images, images.images.layers.layers[2]!.digest);
    expect(top.has('data/.wh.gone.txt')).toBe(true);
    expect(top.has('data/opaque/.wh..wh..opq')).toBe(true);
    expect(top.get('data/linked/hardlink.txt')).toMatchObject({ type: 'link', linkname: 'data/linked/original.txt' });
    const middle = await listLayer(images, images.images.layers.layers[1]!.digest);
    expect([...middle.keys()]).toEqual(expect.arrayContaining(['data/gone.txt', 'data/opaque/old-a.txt']));
  });

  test('nonroot and httpd carry their user and their page', async () => {
    const user = await listLayer(images, images.images.nonroot.layers[1]!.digest);
    expect(user.get('etc/passwd')?.body).toContain('app:x:1000:1000:');
    expect(user.get('home/app/')).toMatchObject({ uid: 1000, gid: 1000 });
    const www = await listLayer(images, images.images.httpd.layers[1]!.digest);
    expect(www.get('www/index.html')?.body).toBe(HTTPD_INDEX_HTML);
    const config = JSON.parse((await readBlob(images, images.images.httpd.config.digest)).toString());
    expect(config.config.Cmd).toEqual(['httpd', '-f', '-v', '-p', '80', '-h', '/www']);
  });

  test('a cold build elsewhere gives the same digests (reproducible)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vch-images-'));
    try {
      const again = await buildTestImages({ cacheDir: dir });
      expect(again.built).toBe(true);
      for (const name of ['busybox', 'layers', 'nonroot', 'httpd'] as const) {
        expect(again.images[name].index.digest).toBe(images.images[name].index.digest);
      }
      expect((await buildTestImages({ cacheDir: dir })).built).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
