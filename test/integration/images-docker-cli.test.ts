/**
 * Images end to end, as a user meets them: the real docker CLI against the box `vch dev
 * --with-test-registry` starts (vcsim, the offline registry as docker.io's mirror, the port
 * layer with its image store on the simulator's datastore, the Docker API in front).
 */

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunningDaemon } from '../../bin/commands/daemon';
import { pushTestImages, startTestRegistry, type TestRegistry } from '../../src/simulator/registry';
import { type RunningBox, startAnotherVch, startTestBox } from '../helpers/box';
import { type DockerRunOptions, type DockerRunResult, dockerAvailable, runDocker } from '../helpers/dockerCli';

jest.setTimeout(300_000);

const USER = { username: 'vch-user', password: 'vch-secret-1' };

let box: RunningBox;
let authRegistry: TestRegistry;

function docker(args: readonly string[], options: Partial<DockerRunOptions> = {}): Promise<DockerRunResult> {
  return runDocker(args, { host: box.dockerHost, timeoutMs: 180_000, ...options });
}

/** Fails with the CLI's own words when a command did not succeed. */
async function ok(args: readonly string[], options: Partial<DockerRunOptions> = {}): Promise<string> {
  const r = await docker(args, options);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}:\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

async function imageLines(options: Partial<DockerRunOptions> = {}): Promise<string[]> {
  const out = await ok(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}'], options);
  return out.split('\n').filter((l) => l !== '');
}

function pushed() {
  return box.registry!.pushed.images;
}

const short = (digest: string): string => digest.replace(/^sha256:/, '').slice(0, 12);

beforeAll(async () => {
  if (!dockerAvailable()) throw new Error('the docker CLI is missing (/usr/local/bin/docker)');
  authRegistry = await startTestRegistry({ auth: { kind: 'htpasswd', users: [USER] } });
  await pushTestImages(authRegistry);
  box = await startTestBox({ insecureRegistries: [authRegistry.host], withContainers: false });
});

afterAll(async () => {
  await box?.stop();
  await authRegistry?.stop();
});

test('docker pull busybox: progress, then docker images lists it', async () => {
  const busybox = pushed().busybox;
  const out = await ok(['pull', 'busybox']);
  expect(out).toContain('Using default tag: latest');
  expect(out).toContain('latest: Pulling from library/busybox');
  expect(out).toContain(`${short(busybox.layers[0]!.digest)}: Pull complete`);
  expect(out).toContain(`Digest: ${busybox.manifest.digest}`);
  expect(out).toContain('Status: Downloaded newer image for busybox:latest');
  expect(out.trim().split('\n').at(-1)).toBe('docker.io/library/busybox:latest');
  expect(await imageLines()).toContain(`busybox:latest ${short(busybox.config.digest)}`);
  // Again: nothing to do, and the CLI says so.
  expect(await ok(['pull', 'busybox'])).toContain('Status: Image is up to date for busybox:latest');
});

test('docker info shows the vSphere the VCH runs on', async () => {
  const out = await ok(['info']);
  expect(out).toContain(`vSphere target: ${box.sim.url}`);
  expect(out).toContain('Resource Pool: /DC0/host/DC0_C0/Resources');
  expect(out).toContain('Instant Clone: available');
  expect(out).toMatch(/Image Datastore: LocalDS_0/);
  expect(out).toMatch(/Images: [1-9]/);
  expect(out).toMatch(/CPUs: [1-9]/);
  expect(out).toContain(box.registry!.server.url);
  expect(out).toContain(authRegistry.host);
});

test('docker image inspect', async () => {
  const busybox = pushed().busybox;
  const [image] = JSON.parse(await ok(['image', 'inspect', 'busybox'])) as {
    Id: string;
    RepoTags: string[];
    RepoDigests: string[];
    Architecture: string;
    Os: string;
    Config: { Cmd: string[]; Env: string[] };
    RootFS: { Type: string; Layers: string[] };
  }[];
  expect(image!.Id).toBe(busybox.config.digest);
  expect(image!.RepoTags).toEqual(['busybox:latest']);
  expect(image!.RepoDigests).toEqual([`busybox@${busybox.manifest.digest}`]);
  expect(image!).toMatchObject({ Architecture: 'amd64', Os: 'linux' });
  expect(image!.Config.Cmd).toEqual(['sh']);
  expect(image!.RootFS).toMatchObject({ Type: 'layers' });
  expect(image!.RootFS.Layers).toHaveLength(1);
  const missing = await docker(['image', 'inspect', 'no-such-image:here']);
  expect(missing.code).not.toBe(0);
  expect(missing.stderr).toContain('No such image: no-such-image:here');
});

test('docker tag and docker rmi', async () => {
  const busybox = pushed().busybox;
  await ok(['tag', 'busybox', 'mybox:v1']);
  expect(await imageLines()).toContain(`mybox:v1 ${short(busybox.config.digest)}`);
  expect(await ok(['rmi', 'mybox:v1'])).toContain('Untagged: mybox:v1');
  expect((await imageLines()).some((l) => l.startsWith('mybox:'))).toBe(false);
  expect(await imageLines()).toContain(`busybox:latest ${short(busybox.config.digest)}`);

  // An image of its own goes altogether, layers and all.
  const httpd = pushed().httpd;
  await ok(['pull', 'vch-test/httpd']);
  expect(await imageLines()).toContain(`vch-test/httpd:latest ${short(httpd.config.digest)}`);
  const removed = await ok(['rmi', 'vch-test/httpd']);
  expect(removed).toContain('Untagged: vch-test/httpd:latest');
  expect(removed).toContain(`Deleted: ${httpd.config.digest}`);
  expect((await imageLines()).some((l) => l.startsWith('vch-test/httpd:'))).toBe(false);
});

test('pull by digest', async () => {
  const busybox = pushed().busybox;
  const ref = `busybox@${busybox.manifest.digest}`;
  const out = await ok(['pull', ref]);
  expect(out).toContain(`Digest: ${busybox.manifest.digest}`);
  const digests = await ok(['images', '--digests', '--format', '{{.Repository}} {{.Digest}} {{.ID}}']);
  expect(digests).toContain(`busybox ${busybox.manifest.digest} ${short(busybox.config.digest)}`);
  const [image] = JSON.parse(await ok(['image', 'inspect', ref])) as { Id: string }[];
  expect(image!.Id).toBe(busybox.config.digest);
});

test('pull through a manifest list takes its linux/amd64 image', async () => {
  const layers = pushed().layers;
  const out = await ok(['pull', `vch-test/layers:${layers.indexTag}`]);
  expect(out).toContain(`Status: Downloaded newer image for vch-test/layers:${layers.indexTag}`);
  const [image] = JSON.parse(await ok(['image', 'inspect', `vch-test/layers:${layers.indexTag}`])) as {
    Id: string;
    Architecture: string;
  }[];
  expect(image).toMatchObject({ Id: layers.config.digest, Architecture: 'amd64' });
  // The busybox base layer was there already.
  expect(out).toContain(`${short(layers.layers[0]!.digest)}: Already exists`);
});

test('a password-protected registry: pull fails, docker login, then the pull works', async () => {
  const ref = `${authRegistry.host}/library/busybox:latest`;
  const config = mkdtempSync(join(tmpdir(), 'vch-docker-login-'));
  try {
    const denied = await docker(['pull', ref], { configDir: config, timeoutMs: 60_000 });
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain("may require 'docker login'");

    const wrong = await docker(['login', '-u', USER.username, '--password-stdin', authRegistry.host], {
      configDir: config,
      stdin: 'not-the-password\n',
    });
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain(
      `login attempt to http://${authRegistry.host}/v2/ failed with status: 401 Unauthorized`,
    );

    const login = await ok(['login', '-u', USER.username, '--password-stdin', authRegistry.host], {
      configDir: config,
      stdin: `${USER.password}\n`,
    });
    expect(login).toContain('Login Succeeded');
    const out = await ok(['pull', ref], { configDir: config });
    expect(out).toContain(`Status: Downloaded newer image for ${ref}`);
    expect(await imageLines()).toContain(
      `${authRegistry.host}/library/busybox:latest ${short(pushed().busybox.config.digest)}`,
    );
  } finally {
    rmSync(config, { recursive: true, force: true });
  }
});

test('a tampered blob fails the pull with a digest error, and no image is listed', async () => {
  const registry = box.registry!.server;
  const nonroot = pushed().nonroot;
  // Its top layer is its own (the bottom one is busybox's, already here).
  const blob = registry.blobDataPath(nonroot.layers.at(-1)!.digest);
  const original = readFileSync(blob);
  const tampered = Buffer.from(original);
  tampered[tampered.length >> 1] ^= 0xff;
  writeFileSync(blob, tampered);
  try {
    const ref = `${registry.host}/vch-test/nonroot:latest`;
    const r = await docker(['pull', ref]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/digest/i);
    expect((await imageLines()).some((l) => l.includes('nonroot'))).toBe(false);
  } finally {
    writeFileSync(blob, original);
  }
});

/**
 * A loopback proxy in front of a registry that cuts its first big blob response half way
 * (headers and half the body, then the connection closes), and notes Range requests.
 */
async function startCuttingProxy(upstream: string): Promise<{
  host: string;
  cuts: number;
  ranges: string[];
  close(): Promise<void>;
}> {
  const [upstreamHost, upstreamPort] = upstream.split(':');
  const state = { cuts: 0, ranges: [] as string[] };
  const server = http.createServer((req, res) => {
    if (req.headers.range) state.ranges.push(`${req.url} ${req.headers.range}`);
    const up = http.request(
      { host: upstreamHost, port: Number(upstreamPort), method: req.method, path: req.url, headers: req.headers },
      (upRes) => {
        const length = Number(upRes.headers['content-length'] ?? 0);
        const cut =
          state.cuts === 0 &&
          req.method === 'GET' &&
          /\/blobs\/sha256:/.test(req.url ?? '') &&
          upRes.statusCode === 200 &&
          length > 50_000;
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        if (!cut) {
          upRes.pipe(res);
          return;
        }
        state.cuts++;
        const half = Math.floor(length / 2);
        let sent = 0;
        upRes.on('data', (chunk: Buffer) => {
          if (sent >= half) return;
          const part = chunk.subarray(0, half - sent);
          sent += part.length;
          if (sent < half) res.write(part);
          else {
            upRes.destroy();
            res.write(part, () => res.socket?.destroy());
          }
        });
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    get cuts() {
      return state.cuts;
    },
    ranges: state.ranges,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

test('a registry that drops the connection mid-layer: the pull resumes and succeeds', async () => {
  const proxy = await startCuttingProxy(box.registry!.server.host);
  // A VCH of its own (own image folder): the busybox layer is not there yet, so it downloads.
  let vch: RunningDaemon | undefined;
  try {
    vch = await startAnotherVch(box, {
      name: 'vch-resume',
      registry: { insecureRegistries: [proxy.host] },
    });
    const ref = `${proxy.host}/library/busybox:latest`;
    const out = await ok(['pull', ref], { host: vch.addresses[0]! });
    expect(out).toContain(`Status: Downloaded newer image for ${ref}`);
    expect(proxy.cuts).toBe(1);
    expect(proxy.ranges.some((r) => r.includes(pushed().busybox.layers[0]!.digest))).toBe(true);
    expect(await imageLines({ host: vch.addresses[0]! })).toContain(`${ref} ${short(pushed().busybox.config.digest)}`);
  } finally {
    await vch?.close();
    await proxy.close();
  }
});

test('DOCKER_API_VERSION=1.41: pull and images work', async () => {
  const env = { DOCKER_API_VERSION: '1.41' };
  const out = await ok(['pull', 'busybox:1.35'], { env });
  expect(out).toMatch(/Status: (Downloaded newer image|Image is up to date) for busybox:1\.35/);
  expect(await imageLines({ env })).toContain(`busybox:1.35 ${short(pushed().busybox.config.digest)}`);
});

test('a second VCH on the same datastore lists the same images (the VCH keeps only caches)', async () => {
  const before = (await imageLines()).sort();
  expect(before.length).toBeGreaterThan(2);
  const second = await startAnotherVch(box, {});
  try {
    expect((await imageLines({ host: second.addresses[0]! })).sort()).toEqual(before);
  } finally {
    await second.close();
  }
});
