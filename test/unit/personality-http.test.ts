/**
 * The personality's HTTP behaviour over an in-memory port layer: status codes, exact
 * headers, error shapes, routing of slashed image names, the pull stream.
 */

import http from 'node:http';
import pino from 'pino';
import { createPersonality, type ListeningPersonality } from '../../src/personality';
import type { PullOptions } from '../../src/portlayer/api';
import { encodeRegistryAuthHeader } from '../../src/portlayer/storage/registry/registry-auth-header';
import { createFakePortLayer, type FakeImageService } from '../helpers/fakePortLayer';

let server: ListeningPersonality;
let base: string;
let images: FakeImageService;

beforeEach(async () => {
  const portLayer = createFakePortLayer({
    remote: [
      { reference: 'busybox:latest', layerSizes: [3000, 10] },
      { reference: '127.0.0.1:5000/foo/bar:tag', layerSizes: [100] },
    ],
  });
  images = portLayer.images;
  images.seed({ reference: 'alpine:3.20', layerSizes: [500], config: { labels: { tier: 'base' } } });
  server = await createPersonality({ ...portLayer, logger: pino({ level: 'silent' }) }).listen({ port: 0 });
  base = server.address.replace('tcp://', 'http://');
});

afterEach(async () => {
  await server.close();
});

async function json(res: Response): Promise<unknown> {
  return JSON.parse(await res.text());
}

function expectDockerError(res: Response, status: number): void {
  expect(res.status).toBe(status);
  // Exactly this: with `; charset=utf-8` the CLI prints raw JSON.
  expect(res.headers.get('content-type')).toBe('application/json');
}

describe('ping and versions', () => {
  it('answers HEAD and GET /_ping with the headers clients negotiate on', async () => {
    for (const method of ['HEAD', 'GET']) {
      const res = await fetch(`${base}/_ping`, { method });
      expect(res.status).toBe(200);
      expect(res.headers.get('api-version')).toBe('1.51');
      expect(res.headers.get('ostype')).toBe('linux');
      expect(res.headers.get('docker-experimental')).toBe('false');
      expect(res.headers.get('cache-control')).toContain('no-cache');
      expect(res.headers.get('pragma')).toBe('no-cache');
      expect(res.headers.get('server')).toMatch(/^VCH\//);
      expect(await res.text()).toBe(method === 'GET' ? 'OK' : '');
    }
  });

  it('serves every route with and without a version prefix', async () => {
    for (const prefix of ['', '/v1.24', '/v1.41', '/v1.51']) {
      const res = await fetch(`${base}${prefix}/version`);
      expect(res.status).toBe(200);
      const body = (await json(res)) as Record<string, unknown>;
      expect(body.ApiVersion).toBe('1.51');
      expect(body.MinAPIVersion).toBe('1.24');
      expect(body.Os).toBe('linux');
      expect((await fetch(`${base}${prefix}/images/json`)).status).toBe(200);
    }
  });

  it('rejects versions out of range with 400 and the Docker message', async () => {
    const old = await fetch(`${base}/v1.12/version`);
    expectDockerError(old, 400);
    expect(await json(old)).toEqual({
      message:
        'client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version',
    });
    const fresh = await fetch(`${base}/v1.52/images/json`);
    expectDockerError(fresh, 400);
  });

  it('keeps VirtualSize only for API versions before 1.44', async () => {
    const old = (await json(await fetch(`${base}/v1.43/images/json`))) as Record<string, unknown>[];
    const now = (await json(await fetch(`${base}/images/json`))) as Record<string, unknown>[];
    expect(old[0]!.VirtualSize).toBe(500);
    expect(now[0]).not.toHaveProperty('VirtualSize');
  });

  it("puts vSphere facts into /info in Docker's shape", async () => {
    const info = (await json(await fetch(`${base}/info`))) as Record<string, unknown>;
    expect(info).toMatchObject({ Containers: 3, ContainersRunning: 1, ContainersStopped: 2, Images: 1, NCPU: 4 });
    expect(info.SystemStatus).toContainEqual(['vSphere target', 'https://127.0.0.1:8989/sdk']);
    expect(info.DriverStatus).toContainEqual(['Image Datastore', 'LocalDS_0 (80.0 GiB free of 100.0 GiB)']);
  });
});

describe('errors and bad input', () => {
  it('answers unknown routes like dockerd', async () => {
    const res = await fetch(`${base}/v1.41/no/such/route`);
    expectDockerError(res, 404);
    expect(await json(res)).toEqual({ message: 'page not found' });
  });

  it('rejects malformed and oversized JSON bodies, and survives', async () => {
    const bad = await fetch(`${base}/images/create?fromImage=busybox`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{not json',
    });
    expectDockerError(bad, 400);
    expect(((await json(bad)) as { message: string }).message).toMatch(/^invalid JSON in request body/);
    const big = await fetch(`${base}/images/create?fromImage=busybox`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ x: 'y'.repeat(2 * 1024 * 1024) }),
    });
    expectDockerError(big, 413);
    expect((await fetch(`${base}/_ping`)).status).toBe(200);
  });

  it('rejects bad filters, bad references and bad auth headers as 400', async () => {
    expectDockerError(await fetch(`${base}/images/json?filters=%7Bnope`), 400);
    const unknown = await fetch(`${base}/images/json?filters=${encodeURIComponent('{"bogus":["x"]}')}`);
    expectDockerError(unknown, 400);
    expect(await json(unknown)).toEqual({ message: "invalid filter 'bogus'" });
    expectDockerError(await fetch(`${base}/images/create?fromImage=UPPER`, { method: 'POST' }), 400);
    expectDockerError(
      await fetch(`${base}/images/create?fromImage=busybox`, { method: 'POST', headers: { 'X-Registry-Auth': '!!' } }),
      400,
    );
  });

  it('survives malformed percent-encoding in a path', async () => {
    const res = await fetch(`${base}/images/%E0%A4%A/json`);
    expectDockerError(res, 400);
    expect((await fetch(`${base}/_ping`)).status).toBe(200);
  });
});

describe('images', () => {
  it('inspects by name, id and id prefix, and 404s with "No such image"', async () => {
    const byName = (await json(await fetch(`${base}/images/alpine:3.20/json`))) as { Id: string };
    expect(byName.Id).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect((await fetch(`${base}/images/${byName.Id}/json`)).status).toBe(200);
    expect((await fetch(`${base}/images/${byName.Id.slice(7, 19)}/json`)).status).toBe(200);
    const missing = await fetch(`${base}/v1.50/images/nosuch/json`);
    expectDockerError(missing, 404);
    expect(await json(missing)).toEqual({ message: 'No such image: nosuch:latest' });
  });

  it('routes names with slashes and registry ports', async () => {
    const tag = await fetch(`${base}/images/alpine:3.20/tag?repo=127.0.0.1:5000/foo/bar&tag=tag`, { method: 'POST' });
    expect(tag.status).toBe(201);
    const res = await fetch(`${base}/v1.41/images/127.0.0.1:5000/foo/bar:tag/json`);
    expect(res.status).toBe(200);
    expect(((await json(res)) as { RepoTags: string[] }).RepoTags).toContain('127.0.0.1:5000/foo/bar:tag');
    const history = await fetch(`${base}/images/127.0.0.1:5000/foo/bar:tag/history`);
    expect(((await json(history)) as unknown[]).length).toBe(1);
    const del = await fetch(`${base}/images/127.0.0.1:5000/foo/bar:tag`, { method: 'DELETE' });
    expect(await json(del)).toEqual([{ Untagged: '127.0.0.1:5000/foo/bar:tag' }]);
  });

  it('lists with filters in both forms', async () => {
    await images.pull('busybox', { onProgress: () => {} });
    const ref = (await json(
      await fetch(`${base}/images/json?filters=${encodeURIComponent('{"reference":{"busy*":true}}')}`),
    )) as {
      RepoTags: string[];
    }[];
    expect(ref.map((i) => i.RepoTags)).toEqual([['busybox:latest']]);
    const label = (await json(
      await fetch(`${base}/images/json?filters=${encodeURIComponent('{"label":["tier=base"]}')}`),
    )) as {
      RepoTags: string[];
    }[];
    expect(label.map((i) => i.RepoTags)).toEqual([['alpine:3.20']]);
  });

  it('answers 409 for an image in use unless forced', async () => {
    const { Id } = (await json(await fetch(`${base}/images/alpine:3.20/json`))) as { Id: string };
    images.markInUse(Id, 'c0ffee0000000000');
    const conflict = await fetch(`${base}/images/alpine:3.20`, { method: 'DELETE' });
    expectDockerError(conflict, 409);
    expect(((await json(conflict)) as { message: string }).message).toMatch(/^conflict: unable to remove/);
    const forced = await fetch(`${base}/images/alpine:3.20?force=1`, { method: 'DELETE' });
    expect(await json(forced)).toEqual([{ Untagged: 'alpine:3.20' }]);
  });

  it('prunes dangling images by default and all unused with dangling=false', async () => {
    const none = (await json(await fetch(`${base}/images/prune`, { method: 'POST' }))) as Record<string, unknown>;
    expect(none).toEqual({ ImagesDeleted: null, SpaceReclaimed: 0 });
    const all = (await json(
      await fetch(`${base}/images/prune?filters=${encodeURIComponent('{"dangling":["false"]}')}`, { method: 'POST' }),
    )) as { ImagesDeleted: Record<string, string>[]; SpaceReclaimed: number };
    expect(all.SpaceReclaimed).toBe(500);
    expect(all.ImagesDeleted).toContainEqual({ Untagged: 'alpine:3.20' });
  });
});

describe('pull', () => {
  function lines(text: string): Record<string, unknown>[] {
    return text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  it('streams Docker progress messages as newline-delimited JSON', async () => {
    const res = await fetch(`${base}/v1.50/images/create?fromImage=docker.io%2Flibrary%2Fbusybox&tag=latest`, {
      method: 'POST',
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    const messages = lines(await res.text());
    expect(messages[0]).toEqual({ status: 'Pulling from library/busybox', id: 'latest' });
    const statuses = messages.map((m) => m.status);
    for (const s of [
      'Pulling fs layer',
      'Downloading',
      'Verifying Checksum',
      'Download complete',
      'Extracting',
      'Pull complete',
    ]) {
      expect(statuses).toContain(s);
    }
    const downloading = messages.find((m) => m.status === 'Downloading')!;
    expect(downloading.progressDetail).toEqual({ current: 1000, total: 3000 });
    expect(downloading.progress).toMatch(/^\[=+>\s+\]\s+1kB\/3kB$/);
    expect(statuses.at(-2)).toMatch(/^Digest: sha256:[a-f0-9]{64}$/);
    expect(statuses.at(-1)).toBe('Status: Downloaded newer image for busybox:latest');

    const again = lines(
      await (await fetch(`${base}/images/create?fromImage=busybox&tag=latest`, { method: 'POST' })).text(),
    );
    expect(again.at(-1)!.status).toBe('Status: Image is up to date for busybox:latest');
  });

  it('fails before the stream as HTTP, after it inside the stream', async () => {
    const missing = await fetch(`${base}/images/create?fromImage=nosuch&tag=latest`, { method: 'POST' });
    expectDockerError(missing, 404);
    const spy = jest.spyOn(images, 'pull').mockImplementation(async (_ref: string, options: PullOptions) => {
      options.onProgress({ type: 'pulling-from', tag: 'latest', repository: 'library/busybox' });
      throw new Error('datastore full');
    });
    const midway = await fetch(`${base}/images/create?fromImage=busybox&tag=latest`, { method: 'POST' });
    expect(midway.status).toBe(200);
    expect(lines(await midway.text()).at(-1)).toEqual({
      errorDetail: { message: 'datastore full' },
      error: 'datastore full',
    });
    spy.mockRestore();
  });

  it('passes X-Registry-Auth credentials and the platform to the port layer', async () => {
    const spy = jest.spyOn(images, 'pull');
    const auth = encodeRegistryAuthHeader({ username: 'u', password: 'p', serverAddress: '127.0.0.1:5000' });
    await (
      await fetch(`${base}/images/create?fromImage=127.0.0.1:5000/foo/bar&tag=tag&platform=linux/amd64`, {
        method: 'POST',
        headers: { 'X-Registry-Auth': auth },
      })
    ).text();
    expect(spy.mock.calls[0]![0]).toBe('127.0.0.1:5000/foo/bar:tag');
    expect(spy.mock.calls[0]![1]).toMatchObject({
      auth: { username: 'u', password: 'p', serverAddress: '127.0.0.1:5000' },
      platform: 'linux/amd64',
    });
    spy.mockRestore();
  });

  it('aborts the pull when the client goes away', async () => {
    let signal: AbortSignal | undefined;
    const started = new Promise<void>((resolve) => {
      jest.spyOn(images, 'pull').mockImplementation(async (_ref: string, options: PullOptions) => {
        signal = options.signal;
        options.onProgress({ type: 'pulling-from', tag: 'latest', repository: 'library/busybox' });
        resolve();
        await new Promise((r) => options.signal?.addEventListener('abort', r));
        throw new Error('aborted');
      });
    });
    const url = new URL(`${base}/images/create?fromImage=busybox&tag=latest`);
    const req = http.request(url, { method: 'POST' });
    req.on('error', () => {});
    req.end();
    await started;
    req.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect(signal?.aborted).toBe(true);
    expect((await fetch(`${base}/_ping`)).status).toBe(200);
  });
});
