/**
 * The real docker CLI (v28) against the personality backed by the in-memory port layer:
 * proves the wire format — negotiation, errors, streams, routing — is what the CLI reads.
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { createPersonality, type ListeningPersonality } from '../../src/personality';
import { dockerAvailable, runDocker } from '../helpers/dockerCli';
import { createFakePortLayer, type FakeImageService } from '../helpers/fakePortLayer';

const describeIfDocker = dockerAvailable() ? describe : describe.skip;

describeIfDocker('docker CLI against the personality', () => {
  let server: ListeningPersonality;
  let images: FakeImageService;
  const docker = (args: string[], env?: Record<string, string>, tty?: boolean) =>
    runDocker(args, { host: server.address, ...(env !== undefined ? { env } : {}), ...(tty ? { tty } : {}) });

  beforeAll(async () => {
    const portLayer = createFakePortLayer({
      remote: [
        { reference: 'busybox:latest', layerSizes: [2_200_000, 1200] },
        { reference: '127.0.0.1:5000/foo/bar:1', layerSizes: [5000] },
      ],
      // Slow enough that a terminal sees Downloading lines, fast enough for a test.
      eventDelayMs: 20,
    });
    images = portLayer.images;
    images.seed({ reference: 'alpine:3.20', layerSizes: [3_500_000] });
    server = await createPersonality({ ...portLayer, logger: pino({ level: 'silent' }) }).listen({ port: 0 });
  });

  afterAll(async () => {
    await server?.close();
  });

  it('negotiates the API version: docker version', async () => {
    const r = await docker([
      'version',
      '--format',
      '{{.Server.APIVersion}} {{.Server.MinAPIVersion}} {{.Client.APIVersion}}',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('1.51 1.24 1.50');
  });

  it('speaks to an older client: DOCKER_API_VERSION=1.41 docker version', async () => {
    const r = await docker(['version'], { DOCKER_API_VERSION: '1.41' });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/API version:\s+1\.41 \(downgraded from 1\.50\)/);
    expect(r.stdout).toMatch(/API version:\s+1\.51 \(minimum version 1\.24\)/);
  });

  it('reports a too-old client the way dockerd does', async () => {
    const r = await docker(['images'], { DOCKER_API_VERSION: '1.12' });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      'Error response from daemon: client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version',
    );
  });

  it('shows vSphere in docker info', async () => {
    const r = await docker(['info']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Containers: 3\n\s+Running: 1\n\s+Paused: 0\n\s+Stopped: 2/);
    expect(r.stdout).toContain('Storage Driver: vsphere');
    expect(r.stdout).toContain('vSphere target: https://127.0.0.1:8989/sdk');
    expect(r.stdout).toContain('Image Datastore: LocalDS_0');
    expect(r.stdout).toContain('CPUs: 4');
    expect(r.stdout).toContain('Total Memory: 8GiB');
  });

  it('pulls with Docker progress, then lists, inspects, tags and removes', async () => {
    const pull = await docker(['pull', 'busybox']);
    expect(pull.code).toBe(0);
    expect(pull.stdout).toContain('latest: Pulling from library/busybox');
    expect(pull.stdout).toMatch(/[a-f0-9]{12}: Pulling fs layer/);
    expect(pull.stdout).toMatch(/[a-f0-9]{12}: Download complete/);
    expect(pull.stdout).toMatch(/[a-f0-9]{12}: Pull complete/);
    expect(pull.stdout).toMatch(/Digest: sha256:[a-f0-9]{64}/);
    expect(pull.stdout).toContain('Status: Downloaded newer image for busybox:latest');
    expect(pull.stdout.trim().split('\n').at(-1)).toBe('docker.io/library/busybox:latest');

    const again = await docker(['pull', 'busybox:latest']);
    expect(again.stdout).toContain('Status: Image is up to date for busybox:latest');

    const list = await docker(['images', '--format', '{{.Repository}}:{{.Tag}} {{.Size}}']);
    expect(list.stdout.trim().split('\n').sort()).toEqual(['alpine:3.20 3.5MB', 'busybox:latest 2.2MB']);

    const inspect = await docker(['image', 'inspect', '--format', '{{.Id}} {{.Os}} {{json .RepoTags}}', 'busybox']);
    expect(inspect.stdout.trim()).toMatch(/^sha256:[a-f0-9]{64} linux \["busybox:latest"\]$/);

    const tag = await docker(['tag', 'busybox', '127.0.0.1:5000/foo/bar:tag']);
    expect(tag.code).toBe(0);
    const tagged = await docker(['image', 'inspect', '--format', '{{json .RepoTags}}', '127.0.0.1:5000/foo/bar:tag']);
    expect(tagged.stdout.trim()).toBe('["127.0.0.1:5000/foo/bar:tag","busybox:latest"]');

    const history = await docker(['history', '--format', '{{.Size}}', '127.0.0.1:5000/foo/bar:tag']);
    expect(history.stdout.trim().split('\n')).toEqual(['1.2kB', '2.2MB']);

    const untag = await docker(['rmi', '127.0.0.1:5000/foo/bar:tag']);
    expect(untag.stdout.trim()).toBe('Untagged: 127.0.0.1:5000/foo/bar:tag');
    const rmi = await docker(['rmi', 'busybox']);
    expect(rmi.code).toBe(0);
    expect(rmi.stdout).toContain('Untagged: busybox:latest');
    expect(rmi.stdout).toMatch(/Deleted: sha256:[a-f0-9]{64}/);
  });

  it('pulls from a registry with a port in the name', async () => {
    const r = await docker(['pull', '127.0.0.1:5000/foo/bar:1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('1: Pulling from foo/bar');
    expect(r.stdout.trim().split('\n').at(-1)).toBe('127.0.0.1:5000/foo/bar:1');
    const inspect = await docker(['image', 'inspect', '--format', '{{.Size}}', '127.0.0.1:5000/foo/bar:1']);
    expect(inspect.stdout.trim()).toBe('5000');
  });

  it('draws progress bars on a terminal', async () => {
    await docker(['rmi', '-f', 'busybox']);
    const r = await docker(['pull', 'busybox'], undefined, true);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Downloading\s+\[=*>\s*\]/);
    expect(r.stdout).toContain('Status: Downloaded newer image for busybox:latest');
  });

  it('shows 404s as Docker does', async () => {
    const rmi = await docker(['rmi', 'nosuch']);
    expect(rmi.code).toBe(1);
    expect(rmi.stderr.trim()).toBe('Error response from daemon: No such image: nosuch:latest');
    const inspect = await docker(['image', 'inspect', 'nosuch']);
    expect(inspect.code).toBe(1);
    expect(inspect.stderr).toContain('No such image: nosuch');
    const pull = await docker(['pull', 'nosuch']);
    expect(pull.code).toBe(1);
    expect(pull.stderr.trim()).toBe(
      "Error response from daemon: pull access denied for nosuch, repository does not exist or may require 'docker login'",
    );
  });

  it('shows a conflict for an image in use, and removes it with -f', async () => {
    await docker(['pull', 'busybox']);
    const id = (await docker(['image', 'inspect', '--format', '{{.Id}}', 'busybox'])).stdout.trim();
    images.markInUse(id, 'c0ffee000000');
    const r = await docker(['rmi', 'busybox']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Error response from daemon: conflict: unable to remove repository reference "busybox"/);
    const forced = await docker(['rmi', '-f', 'busybox']);
    expect(forced.code).toBe(0);
    expect(forced.stdout.trim()).toBe('Untagged: busybox:latest');
  });

  it('filters images and prunes', async () => {
    const r = await docker(['images', '--filter', 'reference=alp*', '--format', '{{.Repository}}']);
    expect(r.stdout.trim()).toBe('alpine');
    const bad = await docker(['images', '--filter', 'bogus=1']);
    expect(bad.stderr.trim()).toBe("Error response from daemon: invalid filter 'bogus'");
    const prune = await docker(['image', 'prune', '-af']);
    expect(prune.code).toBe(0);
    expect(prune.stdout).toContain('untagged: alpine:3.20');
    expect(prune.stdout).toMatch(/Total reclaimed space: 3\.5\d*MB/);
  });

  it('listens on a unix socket too', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vch-sock-'));
    const socketPath = path.join(dir, 'docker.sock');
    const portLayer = createFakePortLayer();
    const onSocket = await createPersonality({ ...portLayer, logger: pino({ level: 'silent' }) }).listen({
      socketPath,
    });
    try {
      expect(onSocket.address).toBe(`unix://${socketPath}`);
      const r = await runDocker(['version', '--format', '{{.Server.Version}}'], { host: onSocket.address });
      expect(r.stdout.trim()).toBe('0.1.0');
    } finally {
      await onSocket.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
