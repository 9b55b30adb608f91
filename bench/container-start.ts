/**
 * Container start on the box (what `vch dev --with-test-registry` runs): the time from
 * `create` to the first line of output and to the exit, through the port layer's
 * ContainerService, for
 *   (a) instant clone: create (clone of the frozen template + hot-added disks) + attach +
 *       start of `echo`, 10 runs;
 *   (b) cold boot: the same container started again after it exited (the restart path:
 *       its VM powered on from scratch with the same disks), 10 runs;
 * in the same box, one container at a time. Beside (a), its floor: from the create call to
 * the clone's first guestinfo request (the host agent's log), the moment the resumed tether
 * first runs; everything after it is the guest's own work under TCG. Then the PSS of one
 * running container VM's qemu (`sleep`), from /proc/<pid>/smaps, and how much of it is the
 * frozen template's RAM that this clone only read: pages every clone of the template maps,
 * counted whole while one runs, split between them when several do. TCG on shared CPUs:
 * compare figures within one run, not across machines. Last line: one JSON object.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { PassThrough, Writable } from 'node:stream';
import pino from 'pino';
import { startBox } from '../bin/commands/dev';
import type { ContainerService } from '../src/portlayer/api';

const RUNS = 10;

interface Timing {
  firstLineS: number;
  exitS: number;
}

function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
}

const round = (s: number): number => Math.round(s * 1000) / 1000;

/** Attach, then `go` (create was before t0 for (a); start is inside `go`), timed to first line and exit. */
async function timedRun(
  containers: ContainerService,
  id: string,
  t0: number,
  go: () => Promise<void>,
): Promise<Timing> {
  const out = new PassThrough();
  let firstLine = Number.NaN;
  let text = '';
  out.on('data', (c: Buffer) => {
    text += c.toString('utf8');
    if (Number.isNaN(firstLine) && text.includes('\n')) firstLine = performance.now();
  });
  const a = await containers.attach(id, { stdout: out, stderr: out });
  await go();
  const code = await a.exitCode;
  const end = performance.now();
  if (code !== 0 || !text.includes('started')) throw new Error(`run of ${id.slice(0, 12)}: exit ${code}, ${text}`);
  return { firstLineS: (firstLine - t0) / 1000, exitS: (end - t0) / 1000 };
}

/** The qemu's PSS, and of it the template's RAM pages it maps unchanged (its RAM file's Pss less its copies). */
function pssMB(pid: number, ramDir: string): { pss: number; template: number } {
  let pss = 0;
  let template = 0;
  for (const mapping of readFileSync(`/proc/${pid}/smaps`, 'utf8').split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/)) {
    const kB = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(mapping)?.[1] ?? 0);
    pss += kB('Pss');
    if (mapping.split('\n', 1)[0]?.includes(ramDir)) template += kB('Pss') - kB('Anonymous');
  }
  return { pss: pss / 1024, template: template / 1024 };
}

/** Epoch ms at which each VM's tether first asked for guestinfo, from the host agent's log lines. */
class FirstGuestInfo extends Writable {
  readonly at = new Map<string, number>();
  ramDir = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.includes('"first guestinfo request"') && !line.includes('"host agent watching VMs"')) continue;
      const r = JSON.parse(line) as { vm?: string; time: number; ramDir?: string };
      if (r.ramDir) this.ramDir = r.ramDir;
      else if (r.vm) this.at.set(r.vm, r.time);
    }
    done();
  }
}

async function main(): Promise<void> {
  const firstGuestInfo = new FirstGuestInfo();
  const level = (process.env.VCH_LOG_LEVEL ?? 'warn') as pino.Level;
  // At least info, for the host agent's lines this bench reads; the console shows VCH_LOG_LEVEL and up.
  const logger = pino(
    { level: pino.levels.values[level] !== undefined && pino.levels.values[level] < 30 ? level : 'info' },
    pino.multistream([
      { level: 'info', stream: firstGuestInfo },
      { level, stream: process.stderr },
    ]),
  );
  const t0 = performance.now();
  const box = await startBox({ logger, port: 0, withTestRegistry: true, name: 'bench' });
  try {
    const containers = box.daemon.portLayer.containers;
    if (!containers) throw new Error('the box has no containers');
    const image = box.registry?.pushed.images.busybox.references.tag;
    if (!image) throw new Error('no busybox in the test registry');
    await box.daemon.portLayer.images.pull(image, { onProgress: () => {} });
    process.stderr.write(`box with template ready in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);

    const instant: Timing[] = [];
    const resumed: number[] = [];
    let last = '';
    for (let i = 0; i < RUNS; i++) {
      const start = performance.now();
      const startEpoch = Date.now();
      const { id } = await containers.create({ image, cmd: ['echo', 'started'] });
      const tetherFirst = firstGuestInfo.at.get((await containers.inspect(id)).vm.moref);
      if (tetherFirst !== undefined) resumed.push((tetherFirst - startEpoch) / 1000);
      instant.push(await timedRun(containers, id, start, () => containers.start(id)));
      if (last) await containers.remove(last, { force: true });
      last = id;
      process.stderr.write(
        `instant ${i}: first line ${instant[i]!.firstLineS.toFixed(2)} s, exit ${instant[i]!.exitS.toFixed(2)} s\n`,
      );
    }
    const cold: Timing[] = [];
    for (let i = 0; i < RUNS; i++) {
      const start = performance.now();
      cold.push(await timedRun(containers, last, start, () => containers.start(last)));
      process.stderr.write(
        `cold ${i}: first line ${cold[i]!.firstLineS.toFixed(2)} s, exit ${cold[i]!.exitS.toFixed(2)} s\n`,
      );
    }
    await containers.remove(last, { force: true });

    const { id } = await containers.create({ image, cmd: ['sleep', '600'] });
    await containers.start(id);
    await new Promise((r) => setTimeout(r, 2000)); // the guest settles after its start
    const vmName = (await containers.inspect(id)).vm.name;
    const pgrep = spawnSync('pgrep', ['-f', `qemu-system-x86_64 -name ${vmName}`], { encoding: 'utf8' });
    const pid = Number(pgrep.stdout.trim().split('\n')[0]);
    if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no qemu for ${vmName}`);
    const pss = pssMB(pid, firstGuestInfo.ramDir || '/dev/shm/');
    await containers.remove(id, { force: true });

    const firstLines = (t: Timing[]) => t.map((x) => x.firstLineS);
    const exits = (t: Timing[]) => t.map((x) => x.exitS);
    const result = {
      runs: RUNS,
      instantP50S: round(quantile(firstLines(instant), 0.5)),
      instantP90S: round(quantile(firstLines(instant), 0.9)),
      instantExitP50S: round(quantile(exits(instant), 0.5)),
      coldP50S: round(quantile(firstLines(cold), 0.5)),
      coldP90S: round(quantile(firstLines(cold), 0.9)),
      coldExitP50S: round(quantile(exits(cold), 0.5)),
      ratio: round(quantile(firstLines(cold), 0.5) / quantile(firstLines(instant), 0.5)),
      instantResumeP50S: round(quantile(resumed, 0.5)),
      pssMB: Math.round(pss.pss),
      pssTemplateMB: Math.round(pss.template),
    };
    process.stdout.write(
      `create+start → first line: instant p50 ${result.instantP50S} s (p90 ${result.instantP90S}), ` +
        `cold boot p50 ${result.coldP50S} s (p90 ${result.coldP90S})\n` +
        `instant clone's floor: create call → the resumed tether's first guestinfo request p50 ${result.instantResumeP50S} s ` +
        `(${resumed.length} of ${RUNS} seen)\n` +
        `one running container's qemu PSS ${result.pssMB} MB, of which ${result.pssTemplateMB} MB the frozen ` +
        `template's RAM read unchanged (every clone of it maps those: with several running, each counts ` +
        `${result.pssMB - result.pssTemplateMB} MB of its own plus a share of them)\n`,
    );
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await box.stop();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exit(1);
});
