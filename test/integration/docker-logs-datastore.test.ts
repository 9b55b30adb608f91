/**
 * `docker logs` survives the VCH: a container's output is kept in files in its VM's folder
 * on the datastore, so another VCH process on the same vSphere and config (a restarted
 * VCH: no session, nothing in memory) shows the same logs, and `docker rm` takes the files
 * with the VM. And a restarted VCH reaches the containers still running: it listens where
 * their serial ports dial and takes up their output. The real docker CLI against the box,
 * as in docker-run-cli.test.ts.
 */

import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningDaemon } from '../../bin/commands/daemon';
import { logFileName } from '../../src/portlayer/execution/log-store';
import { type RunningBox, startAnotherVch, startTestBox } from '../helpers/box';
import { type DockerRunOptions, type DockerRunResult, dockerAvailable, runDocker } from '../helpers/dockerCli';

jest.setTimeout(180_000);

let box: RunningBox;
/** The VCH the tests talk to: the box's own, then the one started after it. */
let vch: RunningDaemon;

function docker(args: readonly string[], options: Partial<DockerRunOptions> = {}): Promise<DockerRunResult> {
  return runDocker(args, { host: box.dockerHost, timeoutMs: 90_000, ...options });
}

async function ok(args: readonly string[], options: Partial<DockerRunOptions> = {}): Promise<DockerRunResult> {
  const r = await docker(args, options);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}:\n${r.stderr}\n${r.stdout}`);
  return r;
}

async function until(what: string, probe: () => boolean, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  while (!probe()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The local folder behind the image datastore, where the container VMs' folders are. */
function datastoreDir(): string {
  const ds = box.sim.datastores.find((d) => d.name === 'LocalDS_0') ?? box.sim.datastores[0];
  if (!ds) throw new Error('the simulator reports no datastore');
  return ds.path;
}

beforeAll(async () => {
  if (!dockerAvailable()) throw new Error('the docker CLI is missing (/usr/local/bin/docker)');
  box = await startTestBox();
  vch = box.daemon;
}, 600_000);

afterAll(async () => {
  if (vch !== box?.daemon) await vch?.close();
  await box?.stop();
}, 120_000);

/**
 * The VCH stops and another starts on the same vSphere and config: a restarted VCH, with no
 * session and nothing in memory. One VCH at a time, as in use: a second one running beside
 * the first could not listen on the attach port the templates dial.
 */
async function restartVch(): Promise<string> {
  await vch.close();
  vch = await startAnotherVch(box, {});
  return vch.addresses[0]!;
}

test('a restarted VCH shows the logs of a container that ran before it; rm deletes them', async () => {
  const script = 'echo out-1; echo err-1 >&2; printf "out-2 no newline"';
  const run = await ok(['run', '--name', 'persist', 'busybox', 'sh', '-c', script]);
  expect(run.stdout).toBe('out-1\nout-2 no newline');
  const id = (await ok(['inspect', '-f', '{{.Id}}', 'persist'])).stdout.trim();
  const vmFolder = join(datastoreDir(), `persist-${id.slice(0, 12)}`);
  // Flushed at once when the run ends, into the VM's own folder.
  await until('the log file in the VM folder', () => existsSync(join(vmFolder, logFileName(0))));
  const first = await ok(['logs', '-t', 'persist']);

  const host = await restartVch();
  const logs = await ok(['logs', 'persist'], { host });
  expect(logs.stdout).toBe('out-1\nout-2 no newline');
  expect(logs.stderr).toBe('err-1\n');
  // The times are the ones the first VCH received the output at, and nothing twice.
  const again = await ok(['logs', '-t', 'persist'], { host });
  expect(again.stdout).toBe(first.stdout);
  expect(again.stderr).toBe(first.stderr);
  expect(again.stdout.split('\n')).toHaveLength(2);

  await ok(['rm', 'persist'], { host });
  expect(existsSync(vmFolder)).toBe(false);
  expect(readdirSync(datastoreDir()).filter((f) => f.endsWith(id.slice(0, 12)))).toEqual([]);
});

test('a restarted VCH listens where its containers dial: a running container is reached through it', async () => {
  const before = vch.addresses[0]!;
  await ok(['run', '-d', '--name', 'survivor', 'busybox', 'sh', '-c', 'echo up; sleep 4; echo later; sleep 300'], {
    host: before,
  });
  // Output that reaches no VCH is not kept: the first one has it before it goes.
  for (let i = 0; (await ok(['logs', 'survivor'], { host: before })).stdout !== 'up\n'; i++) {
    if (i > 50) throw new Error('the first VCH never had the output');
    await new Promise((r) => setTimeout(r, 100));
  }
  const host = await restartVch();
  // The exec goes over the container's backchannel: its VM dials the attach server its
  // template was made for, which the new VCH found and took again.
  const exec = await ok(['exec', 'survivor', 'echo', 'still here'], { host });
  expect(exec.stdout).toBe('still here\n');
  // It took up the container's output by itself: what came while no VCH ran is kept too.
  for (let i = 0; (await ok(['logs', 'survivor'], { host })).stdout !== 'up\nlater\n'; i++) {
    if (i > 300) throw new Error('the new VCH never had the later output');
    await new Promise((r) => setTimeout(r, 100));
  }
  expect((await ok(['run', '--rm', 'busybox', 'echo', 'a new one'], { host })).stdout).toBe('a new one\n');
  await ok(['rm', '-f', 'survivor'], { host });
});
