/**
 * bench/pull: `docker pull` of a ~200 MB (uncompressed; ~75 MB gzip) five-layer image of real
 * Debian content (src/simulator/registry/bench-image.ts) from the box's loopback registry
 * through the image store — resolve, download three layers at a time, verify digests, build
 * the ext4 layer disks, upload them to vcsim's datastore, write the metadata — against the raw
 * transfer of the very same blobs. Median of 3 each, interleaved so both see the same machine;
 * every pull goes into a fresh store folder, so each does the full work.
 *
 * The raw baseline: plain HTTP GETs of the layer blobs (undici, the bodies discarded, three at
 * a time as the puller does, on a fresh connection pool each run), no digest check and no
 * writing. That is the least any pull must spend moving the bytes; the registry client's own
 * download into a null sink (same parallelism, with its sha256 check) is printed beside it.
 * On loopback the raw transfer takes a fraction of a second, so the ratio says how far the
 * pull's own CPU work (hashing, gunzip, unpack, mke2fs, the datastore upload) is from the
 * wire, not how well it overlaps the download. The floor says how far it can get: the same
 * GETs plus only the work no pull can skip (each blob's sha256 and gunzip; then also the
 * tar's sha256, the diff_id check), so raw / floor bounds the ratio any pull reaches here.
 *
 * The store's scratch (downloads, staging trees, disk images) is the OS temp dir, as in a
 * VCH by default; `-- --scratch DIR` puts it elsewhere (e.g. a tmpfs, to see how much of the
 * pull is the local filesystem's file-creation cost).
 *
 * Last line: {"pullS":…,"rawS":…,"ratio":…,"floorS":…,"floorDiffIdS":…,"floorRatio":…} with
 * ratio = raw / pull (target ≥ 0.7) and floorRatio = raw / floor, the ratio's ceiling.
 */
import { createHash, type Hash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Agent, request } from 'undici';
import { ImageStore, type PullEvent, VsphereImageDatastore } from '../src/portlayer/storage/images';
import { RegistryClient } from '../src/portlayer/storage/registry';
import { mapWithConcurrency } from '../src/portlayer/storage/registry/concurrency';
import type { Descriptor } from '../src/portlayer/storage/registry/manifest-types';
import { BENCH_REPOSITORY, type BenchImage, pushBenchImage } from '../src/simulator/registry/bench-image';
import { startTestRegistry } from '../src/simulator/registry/test-registry';
import { startSimulator } from '../src/simulator/vcsim/process';
import { VimClient } from '../src/vsphere/client';
import { Inventory } from '../src/vsphere/inventory';
import type { VimContext } from '../src/vsphere/tasks';
import { UpdatesLoop } from '../src/vsphere/updates';

const RUNS = 3;
const PARALLEL = 3;
const DS = 'LocalDS_0';
const scratchArg = process.argv.indexOf('--scratch');
const SCRATCH = scratchArg >= 0 ? process.argv[scratchArg + 1] : undefined;

/**
 * CPU seconds of this process and of its waited-for children (mke2fs, debugfs), from
 * /proc/self/stat: on a shared box, CPU time says more about a change than wall time.
 */
function cpuSeconds(): { self: number; children: number } {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  // After "pid (comm) ": state is field 0, utime 11, stime 12, cutime 13, cstime 14 (in ticks).
  const tick = (i: number): number => Number(fields[i]) / 100;
  return { self: tick(11) + tick(12), children: tick(13) + tick(14) };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;
const secs = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

/** Plain GETs of every layer blob, bodies dropped; see the module comment. */
async function rawGets(registryUrl: string, layers: readonly Descriptor[]): Promise<number> {
  const dispatcher = new Agent({ connections: PARALLEL });
  try {
    let bytes = 0;
    await mapWithConcurrency(layers, PARALLEL, async (d) => {
      const res = await request(`${registryUrl}/v2/${BENCH_REPOSITORY}/blobs/${d.digest}`, { dispatcher });
      if (res.statusCode !== 200) throw new Error(`GET blob ${d.digest}: ${res.statusCode}`);
      for await (const chunk of res.body) bytes += (chunk as Buffer).length;
    });
    return bytes;
  } finally {
    await dispatcher.close();
  }
}

/**
 * Passes bytes on, hashing them, in pieces of at least 1 MiB: gunzip fed the socket's 64 KiB
 * reads costs up to half again the CPU, and the floor must not carry waste a pull could avoid.
 */
function hashingInMiBs(hash: Hash): Transform {
  let pending: Buffer[] = [];
  let bytes = 0;
  const flush = (t: Transform): void => {
    if (bytes > 0) t.push(Buffer.concat(pending, bytes));
    pending = [];
    bytes = 0;
  };
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      pending.push(chunk);
      bytes += chunk.length;
      if (bytes >= 1024 * 1024) flush(this);
      cb();
    },
    flush(cb) {
      flush(this);
      cb();
    },
  });
}

/**
 * The floor: the raw GETs plus the CPU work no pull of these blobs can skip, at the same
 * parallelism: the blob's sha256 and its gunzip (the pull's output chunk size), the tar dropped.
 * `diffIds` adds the sha256 of the tar, which a pull that checks the config's diff_ids also
 * cannot skip. Nothing is written anywhere: no unpack, no disk, no upload.
 */
async function floorGets(registryUrl: string, layers: readonly Descriptor[], diffIds: boolean): Promise<void> {
  const dispatcher = new Agent({ connections: PARALLEL });
  try {
    await mapWithConcurrency(layers, PARALLEL, async (d) => {
      const res = await request(`${registryUrl}/v2/${BENCH_REPOSITORY}/blobs/${d.digest}`, { dispatcher });
      if (res.statusCode !== 200) throw new Error(`GET blob ${d.digest}: ${res.statusCode}`);
      const blobHash = createHash('sha256');
      const tarHash = createHash('sha256');
      const sink = new Writable({
        write: (chunk: Buffer, _enc, cb) => {
          if (diffIds) tarHash.update(chunk);
          cb();
        },
      });
      await pipeline(res.body, hashingInMiBs(blobHash), createGunzip({ chunkSize: 128 * 1024 }), sink);
      if (`sha256:${blobHash.digest('hex')}` !== d.digest) throw new Error(`blob ${d.digest}: digest mismatch`);
    });
  } finally {
    await dispatcher.close();
  }
}

/** The registry client's downloads (digest checked) into sinks that drop the bytes. */
async function clientToNull(host: string, layers: readonly Descriptor[]): Promise<void> {
  const client = new RegistryClient({ insecureRegistries: [host] });
  try {
    const repo = client.repository(`${host}/${BENCH_REPOSITORY}`);
    await mapWithConcurrency(layers, PARALLEL, async (d) => {
      const sink = new Writable({ write: (_chunk, _enc, cb) => cb() });
      await repo.downloadBlob(d, sink);
    });
  } finally {
    await client.close();
  }
}

interface LayerTimes {
  downloaded?: number;
  extractStart?: number;
  extractEnd?: number;
  complete?: number;
}

/** Per-layer milestones from the pull's own events, ms since the pull began. */
function phaseLine(image: BenchImage, times: Map<string, LayerTimes>): string {
  return image.layers
    .map((d, i) => {
      const t = times.get(d.digest.slice(7, 19)) ?? {};
      const f = (x: number | undefined): string => (x === undefined ? '-' : (x / 1000).toFixed(1));
      return `L${i + 1}[dl ${f(t.downloaded)} unpack ${f(t.extractStart)}–${f(t.extractEnd)} done ${f(t.complete)}]`;
    })
    .join(' ');
}

async function main(): Promise<void> {
  const datastoreDir = await mkdtemp(path.join(tmpdir(), 'vch-bench-ds-'));
  const [simStarted, registryStarted] = await Promise.allSettled([
    startSimulator({ quiet: true, datastoreDir, username: 'bench', password: 'bench' }),
    startTestRegistry(),
  ]);
  if (simStarted.status === 'rejected' || registryStarted.status === 'rejected') {
    // Whichever did start must not outlive the benchmark.
    if (simStarted.status === 'fulfilled') await simStarted.value.stop();
    if (registryStarted.status === 'fulfilled') await registryStarted.value.stop();
    await rm(datastoreDir, { recursive: true, force: true });
    const failed = [simStarted, registryStarted].find((r) => r.status === 'rejected');
    throw failed?.status === 'rejected' ? failed.reason : new Error('unreachable');
  }
  const sim = simStarted.value;
  const registry = registryStarted.value;
  let ctx: VimContext | undefined;
  const registryClient = new RegistryClient({ insecureRegistries: [registry.host] });
  try {
    const setup = performance.now();
    const image = await pushBenchImage(registry.host);
    const gz = image.layers.reduce((n, l) => n + l.size, 0);
    const tar = image.tarSizes.reduce((n, s) => n + s, 0);
    process.stdout.write(
      `image: ${image.layers.length} layers, ${mb(tar)} uncompressed, ${mb(gz)} gzip ` +
        `(${image.layers.map((l, i) => `${mb(image.tarSizes[i]!)}/${mb(l.size)}`).join(', ')}); ` +
        `pushed in ${secs(performance.now() - setup)}\n  packages: ${image.packages.join(' ')}\n` +
        `  scratch: ${SCRATCH ?? `${tmpdir()} (the OS temp dir)`}\n`,
    );
    const client = await VimClient.connect({
      url: sim.url,
      username: 'bench',
      password: 'bench',
      thumbprint: sim.thumbprint,
    });
    ctx = { client, updates: await UpdatesLoop.start(client) };
    const datacenter = await new Inventory(client).datacenter();
    const datastore = new VsphereImageDatastore(ctx, { ref: datacenter.ref, path: datacenter.path }, DS);
    const dsPath = sim.datastores.find((d) => d.name === DS)!.path;

    const pullMs: number[] = [];
    const rawMs: number[] = [];
    const floorMs: number[] = [];
    const floorDiffIdMs: number[] = [];
    const clientMs: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      let t = performance.now();
      const bytes = await rawGets(registry.url, image.layers);
      rawMs.push(performance.now() - t);
      if (bytes !== gz) throw new Error(`raw GETs read ${bytes} bytes, expected ${gz}`);

      t = performance.now();
      await floorGets(registry.url, image.layers, false);
      floorMs.push(performance.now() - t);

      t = performance.now();
      await floorGets(registry.url, image.layers, true);
      floorDiffIdMs.push(performance.now() - t);

      t = performance.now();
      await clientToNull(registry.host, image.layers);
      clientMs.push(performance.now() - t);

      // A fresh store folder: nothing of an earlier run's layers can be reused.
      const vchFolder = `vch-bench-${run}`;
      const store = await ImageStore.open({
        datastore,
        vchFolder,
        registry: registryClient,
        ...(SCRATCH ? { scratchDir: SCRATCH } : {}),
      });
      const times = new Map<string, LayerTimes>();
      const cpu0 = cpuSeconds();
      t = performance.now();
      const onEvent = (e: PullEvent): void => {
        if (e.type !== 'layer') return;
        const now = performance.now() - t;
        const lt = times.get(e.id) ?? {};
        times.set(e.id, lt);
        if (e.status === 'Download complete') lt.downloaded = now;
        if (e.status === 'Extracting') {
          lt.extractStart ??= now;
          lt.extractEnd = now;
        }
        if (e.status === 'Pull complete') lt.complete = now;
      };
      const result = await store.pull(image.reference, { onEvent });
      pullMs.push(performance.now() - t);
      const cpu1 = cpuSeconds();
      if (result.outcome !== 'downloaded' || result.image.layers.length !== image.layers.length) {
        throw new Error(`unexpected pull result: ${result.outcome}, ${result.image.layers.length} layers`);
      }
      process.stdout.write(
        `run ${run + 1}: pull ${secs(pullMs[run]!)}, raw GETs ${secs(rawMs[run]!)}, ` +
          `floor ${secs(floorMs[run]!)} (+diff_id ${secs(floorDiffIdMs[run]!)}), ` +
          `client→null ${secs(clientMs[run]!)}; pull CPU: node ${(cpu1.self - cpu0.self).toFixed(2)} s ` +
          `(the registry's and vcsim's not counted), mke2fs+debugfs ${(cpu1.children - cpu0.children).toFixed(2)} s\n` +
          `  ${phaseLine(image, times)}\n`,
      );
      // Keeps the datastore folder from growing by ~220 MB a run.
      await rm(path.join(dsPath, vchFolder), { recursive: true, force: true });
    }
    const p = median(pullMs);
    const r = median(rawMs);
    const c = median(clientMs);
    const f = median(floorMs);
    const fd = median(floorDiffIdMs);
    const spread = (xs: readonly number[]): string => `${secs(Math.min(...xs))}–${secs(Math.max(...xs))}`;
    process.stdout.write(
      `pull median ${secs(p)} (${spread(pullMs)}); raw GETs median ${secs(r)} (${spread(rawMs)}); ` +
        `client→null median ${secs(c)} (${spread(clientMs)})\n` +
        `floor median ${secs(f)} (${spread(floorMs)}); with the diff_id hash ${secs(fd)} (${spread(floorDiffIdMs)})\n` +
        `raw / pull ${(r / p).toFixed(3)} (target ≥ 0.7); client→null / pull ${(c / p).toFixed(3)}; ` +
        `raw / floor ${(r / f).toFixed(3)} (the most any pull reaches here), raw / floor+diff_id ${(r / fd).toFixed(3)}\n`,
    );
    process.stdout.write(
      `${JSON.stringify({
        pullS: Number((p / 1000).toFixed(2)),
        rawS: Number((r / 1000).toFixed(2)),
        ratio: Number((r / p).toFixed(3)),
        floorS: Number((f / 1000).toFixed(2)),
        floorDiffIdS: Number((fd / 1000).toFixed(2)),
        floorRatio: Number((r / f).toFixed(3)),
      })}\n`,
    );
  } finally {
    await ctx?.updates.close();
    await ctx?.client.logout().catch(() => undefined);
    await ctx?.client.close();
    await registryClient.close();
    await Promise.all([sim.stop(), registry.stop()]);
    await rm(datastoreDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`pull: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
