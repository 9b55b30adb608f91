/**
 * The image store against vcsim and the box's registry: pulls become flat VMDK layer disks
 * on the datastore (read back with debugfs, no mounting), image metadata survives into a
 * second store object, deletes keep shared layers, and an interrupted pull is redone.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ConflictError, NotFoundError, type PullProgressEvent } from '../../src/portlayer/api';
import {
  ImageNotFoundError,
  ImageStore,
  ImageStoreService,
  type PullEvent,
  VsphereImageDatastore,
} from '../../src/portlayer/storage/images';
import { RegistryClient } from '../../src/portlayer/storage/registry';
import {
  HTTPD_INDEX_HTML,
  type PushedTestImages,
  pushTestImages,
  startTestRegistry,
  type TestRegistry,
} from '../../src/simulator/registry';
import type { DatacenterRef } from '../../src/vsphere/datastore';
import { Inventory } from '../../src/vsphere/inventory';
import type { VimContext } from '../../src/vsphere/tasks';
import { startVsphereSession, type VsphereSession } from '../helpers/vsphereSession';

jest.setTimeout(120_000);

const run = promisify(execFile);
const DS = 'LocalDS_0';
const VCH = 'vch-images';

let session: VsphereSession;
let ctx: VimContext;
let dc: DatacenterRef;
let dsDir: string;
let registry: TestRegistry;
let pushed: PushedTestImages;
let registryClient: RegistryClient;

async function debugfs(image: string, command: string): Promise<string> {
  return (await run('debugfs', ['-R', command, image])).stdout;
}

function openStore(vchFolder = VCH): Promise<ImageStore> {
  return ImageStore.open({ datastore: new VsphereImageDatastore(ctx, dc, DS), vchFolder, registry: registryClient });
}

/** The local file behind a `[ds] path` (vcsim's datastores are folders). */
function local(datastorePath: string): string {
  return join(dsDir, datastorePath.replace(/^\[[^\]]*\]\s*/, ''));
}

function layerStatuses(events: PullEvent[]): Map<string, string[]> {
  const by = new Map<string, string[]>();
  for (const e of events) {
    if (e.type !== 'layer' || e.status === 'Downloading' || e.status === 'Extracting') continue;
    by.set(e.id, [...(by.get(e.id) ?? []), e.status]);
  }
  return by;
}

beforeAll(async () => {
  [session, registry] = await Promise.all([startVsphereSession(), startTestRegistry()]);
  ({ ctx } = session);
  pushed = await pushTestImages(registry);
  registryClient = new RegistryClient({ insecureRegistries: [registry.host] });
  const datacenter = await new Inventory(ctx.client).datacenter();
  dc = { ref: datacenter.ref, path: datacenter.path };
  dsDir = session.sim.datastores.find((d) => d.name === DS)!.path;
});

afterAll(async () => {
  await registryClient?.close();
  await Promise.all([session?.close(), registry?.stop()]);
});

describe('pull', () => {
  let store: ImageStore;
  beforeAll(async () => {
    store = await openStore();
  });

  test('busybox: a flat VMDK per layer whose ext4 holds busybox and its applet symlinks', async () => {
    const events: PullEvent[] = [];
    const started = Date.now();
    const result = await store.pull(pushed.images.busybox.references.tag, { onEvent: (e) => events.push(e) });
    console.log(`pull busybox end to end: ${Date.now() - started} ms`);
    expect(result.outcome).toBe('downloaded');
    expect(result.image.id).toBe(pushed.images.busybox.config.digest);
    expect(result.image.repoTags).toEqual([`${registry.host}/library/busybox:latest`]);
    const [layer] = result.image.layers;
    const descriptor = await readFile(local(layer!.disk), 'utf8');
    expect(descriptor).toMatch(/^createType="vmfs"$/m);
    const sectors = Number(/^RW (\d+) VMFS "layer-flat.vmdk"$/m.exec(descriptor)?.[1]);
    const flat = local(layer!.disk).replace(/layer\.vmdk$/, 'layer-flat.vmdk');
    expect((await readFile(flat)).length).toBe(sectors * 512);
    // qemu's VMDK reader (what the box's host agent uses) takes the descriptor as is.
    const info = JSON.parse((await run('qemu-img', ['info', '--output=json', local(layer!.disk)])).stdout) as {
      format: string;
      'virtual-size': number;
    };
    expect(info).toMatchObject({ format: 'vmdk', 'virtual-size': sectors * 512 });
    const bin = await debugfs(flat, 'ls -l /bin');
    expect(bin).toMatch(/100755 \(1\)\s+0\s+0\s+\d+ .* busybox/);
    expect(bin).toMatch(/120777 \(7\)\s+0\s+0\s+7 .* sh\n/);
    expect(await debugfs(flat, 'ls /')).not.toContain('lost+found');
    // Docker's progress, in order, for the one layer; then the digest and the status.
    expect(layerStatuses(events).get(layer!.digest.slice(7, 19))).toEqual([
      'Pulling fs layer',
      'Verifying Checksum',
      'Download complete',
      'Pull complete',
    ]);
    expect(events.some((e) => e.type === 'layer' && e.status === 'Downloading')).toBe(true);
    expect(events.at(-2)).toEqual({ type: 'digest', digest: pushed.images.busybox.manifest.digest });
    expect(events.at(-1)).toMatchObject({ type: 'status', outcome: 'downloaded' });
    // Nothing left in the temp folder once the layer moved into place.
    expect(await readdir(join(dsDir, VCH, 'images', 'tmp'))).toEqual([]);
  });

  test('pulling it again is up to date, and no layer is touched', async () => {
    const events: PullEvent[] = [];
    const result = await store.pull(pushed.images.busybox.references.tag, { onEvent: (e) => events.push(e) });
    expect(result.outcome).toBe('up-to-date');
    expect(events.filter((e) => e.type === 'layer')).toEqual([]);
  });

  test('layers image: base layer shared, whiteout char 0/0, opaque xattr, hard link on one inode', async () => {
    const events: PullEvent[] = [];
    const result = await store.pull(pushed.images.layers.references.tag, { onEvent: (e) => events.push(e) });
    expect(result.image.layers).toHaveLength(3);
    const statuses = layerStatuses(events);
    expect(statuses.get(result.image.layers[0]!.digest.slice(7, 19))).toEqual(['Already exists']);
    expect(result.image.layers[0]!.disk).toBe(store.getImage(pushed.images.busybox.references.tag).layers[0]!.disk);
    const top = local(result.image.layers[2]!.disk).replace(/layer\.vmdk$/, 'layer-flat.vmdk');
    const gone = await debugfs(top, 'stat /data/gone.txt');
    expect(gone).toContain('Type: character special');
    expect(gone).toContain('Device major/minor number: 00:00');
    expect(await debugfs(top, 'ea_list /data/opaque')).toContain('trusted.overlay.opaque (1) = "y"');
    const linked = await debugfs(top, 'ls -l /data/linked');
    const inodes = [...linked.matchAll(/^\s*(\d+)\s+100644 \(1\).*\s(?:original|hardlink)\.txt\s*$/gm)].map(
      (m) => m[1],
    );
    expect(inodes).toHaveLength(2);
    expect(inodes[0]).toBe(inodes[1]);
  });

  test('a second store on the same datastore (a restarted VCH) lists both images', async () => {
    const again = await openStore();
    const ids = again.listImages().map((i) => i.id);
    expect(ids.sort()).toEqual([pushed.images.busybox.config.digest, pushed.images.layers.config.digest].sort());
    const busybox = again.getImage(pushed.images.busybox.config.digest.slice(7, 19));
    expect(busybox.repoTags).toEqual([`${registry.host}/library/busybox:latest`]);
    expect(busybox.repoDigests).toEqual([`${registry.host}/library/busybox@${pushed.images.busybox.manifest.digest}`]);
    expect(again.getImage(`${registry.host}/vch-test/layers@${pushed.images.layers.manifest.digest}`).id).toBe(
      pushed.images.layers.config.digest,
    );
    const history = await again.history(`${registry.host}/vch-test/layers`);
    expect(history[0]!.id).toBe(pushed.images.layers.config.digest);
    expect(history.filter((h) => h.size > 0)).toHaveLength(3);
    await again.tag(`${registry.host}/library/busybox`, 'mine/busybox:1');
    expect(again.getImage('mine/busybox:1').id).toBe(busybox.id);
    expect((await openStore()).getImage('mine/busybox:1').repoTags).toEqual([
      `${registry.host}/library/busybox:latest`,
      'mine/busybox:1',
    ]);
    await store.refresh();
  });

  test('deleting an image keeps the layers another image uses and deletes the rest', async () => {
    const layers = store.getImage(pushed.images.layers.references.tag).layers;
    const result = await store.deleteImage(pushed.images.layers.references.tag);
    expect(result.deleted).toEqual([pushed.images.layers.config.digest, layers[1]!.diffId, layers[2]!.diffId]);
    expect(existsSync(local(layers[0]!.disk))).toBe(true);
    expect(existsSync(local(layers[1]!.disk))).toBe(false);
    expect(existsSync(local(layers[2]!.disk))).toBe(false);
    expect(() => store.getImage(pushed.images.layers.references.tag)).toThrow(ImageNotFoundError);
    expect((await openStore()).listImages().map((i) => i.id)).toEqual([pushed.images.busybox.config.digest]);
    // busybox has two tags now: by tag only the tag goes; by ID it needs force.
    expect(await store.deleteImage('mine/busybox:1')).toEqual({ untagged: ['mine/busybox:1'], deleted: [] });
    expect(store.getImage(pushed.images.busybox.references.tag).repoTags).toHaveLength(1);
  });
});

test.each([
  ['while the first layer disk is being built', 'Extracting', 0],
  ['after the first layer disk is in place', 'Pull complete', 1],
] as const)(
  'a pull aborted %s is redone by the next pull, and the image is listed once',
  async (_what, abortAt, reused) => {
    const folder = `vch-abort-${abortAt.replace(' ', '-')}`;
    const first = await openStore(folder);
    const controller = new AbortController();
    const interrupted = first.pull(pushed.images.httpd.references.tag, {
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'layer' && e.status === abortAt) controller.abort();
      },
    });
    await expect(interrupted).rejects.toThrow();
    expect(first.listImages()).toEqual([]);
    expect(existsSync(join(dsDir, folder, 'images', 'index.json'))).toBe(false);
    // What a pull killed mid-upload leaves: a half-written layer under tmp/.
    await mkdir(join(dsDir, folder, 'images', 'tmp', 'half'), { recursive: true });
    await writeFile(join(dsDir, folder, 'images', 'tmp', 'half', 'layer-flat.vmdk'), 'partial');

    // A restarted VCH: tmp/ is cleared, finished layers are reused, the rest made again.
    const second = await openStore(folder);
    expect(existsSync(join(dsDir, folder, 'images', 'tmp', 'half'))).toBe(false);
    const events: PullEvent[] = [];
    const result = await second.pull(pushed.images.httpd.references.tag, { onEvent: (e) => events.push(e) });
    expect(result.outcome).toBe('downloaded');
    expect(result.image.layers).toHaveLength(2);
    const finals = [...layerStatuses(events).values()].map((s) => s.at(-1));
    expect(finals.filter((s) => s === 'Already exists')).toHaveLength(reused);
    expect(finals.filter((s) => s === 'Pull complete')).toHaveLength(2 - reused);
    for (const layer of result.image.layers) {
      await run('e2fsck', ['-fn', local(layer.disk).replace(/layer\.vmdk$/, 'layer-flat.vmdk')]);
    }
    const www = local(result.image.layers[1]!.disk).replace(/layer\.vmdk$/, 'layer-flat.vmdk');
    expect(await debugfs(www, 'cat /www/index.html')).toBe(HTTPD_INDEX_HTML);
    expect((await openStore(folder)).listImages().map((i) => i.id)).toEqual([pushed.images.httpd.config.digest]);
  },
);

test('two pulls at once that share the base layer build it once', async () => {
  const store = await openStore('vch-concurrent');
  const events: PullEvent[] = [];
  const onEvent = (e: PullEvent): void => void events.push(e);
  const [a, b] = await Promise.all([
    store.pull(pushed.images.nonroot.references.tag, { onEvent }),
    store.pull(pushed.images.httpd.references.tag, { onEvent }),
  ]);
  const base = a.image.layers[0]!;
  expect(b.image.layers[0]!.diffId).toBe(base.diffId);
  const baseId = base.digest.slice(7, 19);
  expect(events.filter((e) => e.type === 'layer' && e.id === baseId && e.status === 'Pull complete')).toHaveLength(1);
  expect(events.filter((e) => e.type === 'layer' && e.id === baseId && e.status === 'Waiting')).toHaveLength(1);
  expect(store.listImages()).toHaveLength(2);
  expect(await readdir(join(dsDir, 'vch-concurrent', 'images', 'layers'))).toHaveLength(3);
});

describe('as the port layer ImageService', () => {
  let service: ImageStoreService;
  beforeAll(async () => {
    service = new ImageStoreService(await openStore('vch-service'));
  });

  test('pull, inspect, list, history, tag and remove in the interface types', async () => {
    const events: PullProgressEvent[] = [];
    const ref = pushed.images.nonroot.references.tag;
    const pulled = await service.pull(ref, { onProgress: (e) => events.push(e) });
    expect(pulled).toEqual({
      id: pushed.images.nonroot.config.digest,
      reference: `${registry.host}/vch-test/nonroot:latest`,
      digest: pushed.images.nonroot.manifest.digest,
      upToDate: false,
    });
    expect(events[0]).toEqual({ type: 'pulling-from', tag: 'latest', repository: 'vch-test/nonroot' });
    expect(events.at(-1)).toEqual({ type: 'status', upToDate: false, reference: pulled.reference });
    const downloading = events.find((e) => e.type === 'layer' && e.status === 'Downloading');
    expect(downloading).toMatchObject({ current: expect.any(Number), total: expect.any(Number) });

    const details = await service.inspect(pulled.id.slice(7, 17));
    expect(details.config).toMatchObject({ user: 'app', workingDir: '/home/app', cmd: ['id'] });
    expect(details.layers).toHaveLength(2);
    expect(details.created).toBeInstanceOf(Date);
    expect((await service.list()).map((i) => i.id)).toEqual([pulled.id]);
    expect((await service.history(ref))[0]).toMatchObject({ id: pulled.id, tags: [pulled.reference] });

    await service.tag(ref, 'nonroot:mine');
    await expect(service.remove(pulled.id, {})).rejects.toBeInstanceOf(ConflictError);
    expect(await service.remove('nonroot:mine', {})).toEqual([{ untagged: 'nonroot:mine' }]);
    const removed = await service.remove(ref, {});
    expect(removed[0]).toEqual({ untagged: pulled.reference });
    expect(removed).toContainEqual({ deleted: pulled.id });
    await expect(service.inspect(ref)).rejects.toThrow(new NotFoundError('image', ref));
  });

  test('a repository the registry does not have is not-found, before any progress', async () => {
    const events: PullProgressEvent[] = [];
    const err = await service
      .pull(`${registry.host}/vch-test/nothing:latest`, { onProgress: (e) => events.push(e) })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(events).toEqual([]);
  });
});
