/**
 * Containers through the port layer's ContainerService on the box: a template made by the
 * execution room (bootstrap ISO with the real tether, uploaded once; frozen), busybox pulled
 * from the test registry into the image store, containers cloned, started, attached, stopped
 * and removed. One box for the file.
 *
 * Needs the parallel pieces: the tether running in the VM (test/integration/tether-vm.test.ts)
 * and the host agent hot-adding disks (hostagent-hotplug.test.ts), and the host agent
 * reading the image store's flat descriptors (`RW n VMFS "…-flat.vmdk"`, see the report).
 */
import { PassThrough, type Readable } from 'node:stream';
import type { ContainerService } from '../../src/portlayer/api';
import { type Execution, ImageStoreImages, openExecution } from '../../src/portlayer/execution';
import { AttachServer } from '../../src/portlayer/interaction/attach-server';
import { ImageStore, VsphereImageDatastore } from '../../src/portlayer/storage/images';
import { RegistryClient } from '../../src/portlayer/storage/registry';
import {
  type PushedTestImages,
  pushTestImages,
  startTestRegistry,
  type TestRegistry,
} from '../../src/simulator/registry';
import { Inventory } from '../../src/vsphere/inventory';
import { type Box, qemusOf, startBox } from '../fixtures/hostagent-guest/harness';
import { buildTetherImage } from '../fixtures/tether-vm/guest';

jest.setTimeout(240_000);

const VCH = 'vch-exec';
let box: Box;
let registry: TestRegistry;
let pushed: PushedTestImages;
let registryClient: RegistryClient;
let attach: AttachServer;
let attachPort: number;
let execution: Execution;
let containers: ContainerService;
let busybox: string;

beforeAll(async () => {
  const image = await buildTetherImage();
  [box, registry] = await Promise.all([startBox(image), startTestRegistry()]);
  pushed = await pushTestImages(registry);
  registryClient = new RegistryClient({ insecureRegistries: [registry.host] });
  const inventory = new Inventory(box.client);
  const dc = await inventory.datacenter();
  const files = new VsphereImageDatastore(box.ctx, { ref: dc.ref, path: dc.path }, 'LocalDS_0');
  const store = await ImageStore.open({ datastore: files, vchFolder: VCH, registry: registryClient });
  busybox = pushed.images.busybox.references.tag;
  await store.pull(busybox);
  attach = await AttachServer.listen({ host: '127.0.0.1', port: 0 });
  const address = attach.address();
  if (typeof address === 'string') throw new Error('attach server on a unix socket');
  attachPort = address.port;
  const t0 = Date.now();
  execution = await openExecution({
    ctx: box.ctx,
    vch: VCH,
    datacenter: dc,
    pool: box.pool,
    datastore: 'LocalDS_0',
    files,
    images: new ImageStoreImages(store),
    iso: { path: image.iso, hash: image.manifest.hash },
    attachServer: attach,
    serialUri: `tcp://127.0.0.1:${attachPort}`,
    log: (m) => process.stderr.write(`execution: ${m}\n`),
  });
  process.stderr.write(
    `execution: ready in ${Date.now() - t0} ms (scratch upload ${execution.scratch.uploadMs ?? '-'} ms, ` +
      `ISO upload ${execution.template.isoUploadMs ?? '-'} ms, template frozen ${execution.template.freezeMs ?? '-'} ms)\n`,
  );
  containers = execution.containers;
}, 900_000);

afterAll(async () => {
  const agent = box?.agent;
  for (const c of (await containers?.list({ all: true })) ?? []) {
    await containers.remove(c.id, { force: true }).catch(() => undefined);
  }
  await execution?.close();
  await attach?.close();
  await registryClient?.close();
  await Promise.all([box?.stop(), registry?.stop()]);
  if (agent) expect(qemusOf(agent)).toEqual([]);
});

function collect(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (c: Buffer) => {
    text += c.toString('utf8');
  });
  return { stream, text: () => text };
}

/** create → attach → start → exit, like `docker run`. */
async function run(
  cmd: string[],
  o: { tty?: boolean; stdin?: Readable; name?: string } = {},
): Promise<{ id: string; stdout: string; stderr: string; exitCode: number; firstOutputMs: number }> {
  const t0 = Date.now();
  const { id } = await containers.create({
    image: busybox,
    cmd,
    ...(o.name ? { name: o.name } : {}),
    tty: o.tty ?? false,
    openStdin: o.stdin !== undefined,
    stdinOnce: o.stdin !== undefined,
  });
  const out = collect();
  const err = collect();
  let firstOutputMs = -1;
  out.stream.once('data', () => {
    firstOutputMs = Date.now() - t0;
  });
  const attachment = await containers.attach(id, {
    stdout: out.stream,
    stderr: err.stream,
    ...(o.stdin ? { stdin: o.stdin } : {}),
  });
  await containers.start(id);
  const exitCode = await attachment.exitCode;
  return { id, stdout: out.text(), stderr: err.text(), exitCode, firstOutputMs };
}

describe('containers on the box', () => {
  it('echo hello → hello, exit 0; state from vSphere', async () => {
    const r = await run(['echo', 'hello'], { name: 'hello' });
    process.stderr.write(`execution: create+start → first output ${r.firstOutputMs} ms\n`);
    expect(r.stdout).toBe('hello\n');
    expect(r.exitCode).toBe(0);
    expect((await containers.wait(r.id)).exitCode).toBe(0);
    const details = await containers.inspect('hello');
    expect(details.id).toBe(r.id);
    expect(details.state.status).toBe('exited');
    expect(details.vm.name).toBe(`hello-${r.id.slice(0, 12)}`);
    expect((await containers.inspect(r.id.slice(0, 8))).name).toBe('/hello');
    await expect(containers.create({ image: busybox, name: 'hello', cmd: ['true'] })).rejects.toThrow(
      `Conflict. The container name "/hello" is already in use by container "${r.id}". You have to remove (or rename) that container to be able to reuse that name.`,
    );
    await containers.remove('hello');
    await expect(containers.inspect('hello')).rejects.toThrow('No such container: hello');
  });

  it("sh -c 'exit 3' → 3", async () => {
    const r = await run(['sh', '-c', 'exit 3']);
    expect(r.exitCode).toBe(3);
    expect((await containers.inspect(r.id)).state.exitCode).toBe(3);
  });

  it('sleep 100 stopped with SIGTERM → 143', async () => {
    const { id } = await containers.create({ image: busybox, cmd: ['sleep', '100'] });
    await containers.start(id);
    expect((await containers.inspect(id)).state.running).toBe(true);
    expect((await containers.list()).map((c) => c.id)).toContain(id);
    await containers.stop(id, { signal: 'SIGTERM', timeout: 30 });
    expect((await containers.wait(id)).exitCode).toBe(143);
  });

  it('stdin round trip through cat', async () => {
    const stdin = new PassThrough();
    stdin.end('round trip\n');
    const r = await run(['cat'], { stdin });
    expect(r.stdout).toBe('round trip\n');
    expect(r.exitCode).toBe(0);
  });

  it('tty with a resize seen by stty size', async () => {
    const { id } = await containers.create({ image: busybox, cmd: ['sh', '-c', 'sleep 1; stty size'], tty: true });
    const out = collect();
    const a = await containers.attach(id, { stdout: out.stream }, { rows: 33, cols: 101 });
    await containers.start(id);
    await containers.resize(id, 40, 120);
    expect(await a.exitCode).toBe(0);
    expect(out.text()).toContain('40 120');
  });

  it('exec in a running container', async () => {
    const { id } = await containers.create({ image: busybox, cmd: ['sleep', '100'] });
    await containers.start(id);
    const out = collect();
    const e = await containers.exec(id, { cmd: ['echo', 'from exec'] }, { stdout: out.stream });
    expect(await e.exitCode).toBe(0);
    expect(out.text()).toBe('from exec\n');
    await containers.remove(id, { force: true });
  });

  it('a missing executable → executable file not found, 127', async () => {
    const { id } = await containers.create({ image: busybox, cmd: ['no-such-thing'] });
    await expect(containers.start(id)).rejects.toThrow('executable file not found');
    const w = await containers.wait(id);
    expect(w.exitCode).toBe(127);
  });

  it('10 containers started at once all succeed', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => run(['echo', `n${i}`])));
    results.forEach((r, i) => {
      expect(r.stdout).toBe(`n${i}\n`);
      expect(r.exitCode).toBe(0);
    });
  });

  it('containers reconnect to a restarted attach server', async () => {
    const { id } = await containers.create({ image: busybox, cmd: ['sh', '-c', 'sleep 8; echo after'] });
    const out = collect();
    const a = await containers.attach(id, { stdout: out.stream });
    await containers.start(id);
    await attach.close();
    attach = await AttachServer.listen({ host: '127.0.0.1', port: attachPort });
    execution.tethers.use(attach);
    expect(await a.exitCode).toBe(0);
    expect(out.text()).toContain('after');
  });
});
