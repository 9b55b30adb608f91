/**
 * bench/vsphere-retrieve: 2000 VMs × (name, 20 extraConfig entries, runtime.powerState) read
 * through the typed client (PropertyCollector.retrieveContents), against the raw transport time
 * of the very same requests (POST and read the body, no parsing), median of 5 each, interleaved
 * so both see the same machine. Target: client / transport ≤ 3. In the same run, the same
 * requests decoded with saxes instead of the client's own XML scanner (xmlScanner.ts says why
 * the client does not parse with saxes by default).
 *
 * The request sets no maxObjects, so the server pages by its own policy, as vCenter does (the
 * box: 100 objects a page, src/simulator/vcsim/retrieve_paging.go): RetrievePropertiesEx, then
 * ContinueRetrievePropertiesEx per token, in all three measurements. The raw one finds each
 * page's token with a string search in the start of the body (RetrieveResult puts the token
 * before the objects).
 *
 * Last line: {"clientMs":…,"transportMs":…,"ratio":…,"peakRssMB":…}
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startSimulator } from '../src/simulator/vcsim/process';
import { VimClient } from '../src/vsphere/client';
import { containerViewObjectSpec, PropertyCollector } from '../src/vsphere/propertyCollector';
import { runTask } from '../src/vsphere/tasks';
import { UpdatesLoop } from '../src/vsphere/updates';
import { ResponseDecoder } from '../src/vsphere/vim25/decode';
import { encodeRequest } from '../src/vsphere/vim25/encode';
import type { PropertyFilterSpec } from '../src/vsphere/vim25/generated/types';
import type { ManagedObjectReference } from '../src/vsphere/vim25/values';
import { toOptionValues } from '../src/vsphere/virtualMachine';

const VMS = 2000;
const EXTRA_CONFIG_ENTRIES = 20;
const RUNS = 5;
const SETUP_PARALLELISM = 16;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

/** Gives every VM the same number of extraConfig entries, as container VMs will carry. */
async function fillExtraConfig(client: VimClient, vms: readonly ManagedObjectReference[]): Promise<void> {
  const updates = await UpdatesLoop.start(client);
  try {
    const ctx = { client, updates };
    await inParallel(vms, SETUP_PARALLELISM, async (vm) => {
      const values: Record<string, string> = {};
      for (let i = 0; i < EXTRA_CONFIG_ENTRIES; i++)
        values[`guestinfo.vch.bench${i}`] = `value ${i} of ${vm.value} <&>`;
      await runTask(ctx, () => client.invoke('ReconfigVM_Task', vm, { spec: { extraConfig: toOptionValues(values) } }));
    });
  } finally {
    await updates.close();
  }
}

async function main(): Promise<void> {
  const datastoreDir = await mkdtemp(path.join(tmpdir(), 'vch-bench-ds-'));
  const sim = await startSimulator({ vms: VMS, quiet: true, datastoreDir, username: 'bench', password: 'bench' });
  let client: VimClient | undefined;
  try {
    client = await VimClient.connect({
      url: sim.url,
      username: 'bench',
      password: 'bench',
      thumbprint: sim.thumbprint,
    });
    const pc = new PropertyCollector(client);
    const view = await pc.createContainerView(client.serviceContent.rootFolder, ['VirtualMachine']);
    const vms = (await pc.retrieve(view, 'VirtualMachine', [])).map((o) => o.obj);
    process.stdout.write(`simulator: ${vms.length} VMs, ready in ${sim.startupMs} ms\n`);
    const setupStart = performance.now();
    await fillExtraConfig(client, vms);
    process.stdout.write(
      `setup: ${EXTRA_CONFIG_ENTRIES} extraConfig entries on each VM in ${Math.round(performance.now() - setupStart)} ms\n`,
    );

    const spec: PropertyFilterSpec = {
      propSet: [{ type: 'VirtualMachine', pathSet: ['name', 'config.extraConfig', 'runtime.powerState'] }],
      objectSet: [containerViewObjectSpec(view.ref)],
    };
    const pcRef = client.serviceContent.propertyCollector;
    const table = client.table;
    const transport = client.transport;
    const first = encodeRequest(table, 'RetrievePropertiesEx', pcRef, { specSet: [spec], options: {} });
    const next = (token: string) => encodeRequest(table, 'ContinueRetrievePropertiesEx', pcRef, { token });

    /** Every page through the raw transport; the body is only searched for the next token. */
    const rawPages = async (): Promise<{ bytes: number; pages: number }> => {
      let bytes = 0;
      let pages = 0;
      let envelope: string | undefined = first;
      while (envelope) {
        let head = '';
        await transport.soap(envelope, (chunk) => {
          bytes += chunk.length;
          if (head.length < 4096) head += chunk.slice(0, 4096);
        });
        pages++;
        const token = /<token>([^<]*)<\/token>/.exec(head)?.[1];
        envelope = token ? next(token) : undefined;
      }
      return { bytes, pages };
    };

    /** Every page decoded with saxes, following the decoded tokens. */
    const saxesPages = async (): Promise<void> => {
      let method: 'RetrievePropertiesEx' | 'ContinueRetrievePropertiesEx' = 'RetrievePropertiesEx';
      let envelope: string | undefined = first;
      while (envelope) {
        const saxes = new ResponseDecoder(table, method, { parser: 'saxes' });
        await transport.soap(envelope, (chunk) => saxes.write(chunk));
        const decoded = saxes.end();
        if (decoded.kind !== 'result') throw new Error('the saxes decoder saw a fault');
        const token = (decoded.value as { token?: string } | undefined)?.token;
        method = 'ContinueRetrievePropertiesEx';
        envelope = token ? next(token) : undefined;
      }
    };
    const clientMs: number[] = [];
    const transportMs: number[] = [];
    const saxesMs: number[] = [];
    let bytes = 0;
    let pages = 0;
    for (let run = 0; run < RUNS; run++) {
      let t = performance.now();
      ({ bytes, pages } = await rawPages());
      transportMs.push(performance.now() - t);

      t = performance.now();
      const objects = await pc.retrieveContents([spec]);
      clientMs.push(performance.now() - t);
      if (objects.length !== VMS) throw new Error(`expected ${VMS} VMs, got ${objects.length}`);

      t = performance.now();
      await saxesPages();
      saxesMs.push(performance.now() - t);
      process.stdout.write(
        `run ${run + 1}: client ${clientMs[run].toFixed(0)} ms, transport ${transportMs[run].toFixed(0)} ms, ` +
          `with saxes ${saxesMs[run].toFixed(0)} ms\n`,
      );
    }
    await view.destroy();
    const c = median(clientMs);
    const tr = median(transportMs);
    process.stdout.write(`response: ${(bytes / 1e6).toFixed(1)} M characters in ${pages} pages\n`);
    const sx = median(saxesMs);
    process.stdout.write(`client median ${c.toFixed(0)} ms, transport median ${tr.toFixed(0)} ms (target ratio ≤ 3)\n`);
    process.stdout.write(`with saxes median ${sx.toFixed(0)} ms (ratio ${(sx / tr).toFixed(2)})\n`);
    const peakRssMB = process.resourceUsage().maxRSS / 1024;
    process.stdout.write(
      `${JSON.stringify({
        clientMs: Math.round(c),
        transportMs: Math.round(tr),
        ratio: Number((c / tr).toFixed(2)),
        peakRssMB: Math.round(peakRssMB),
        saxesMs: Math.round(sx),
      })}\n`,
    );
  } finally {
    await client?.logout().catch(() => undefined);
    await client?.close();
    await sim.stop();
    await rm(datastoreDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`vsphere-retrieve: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
