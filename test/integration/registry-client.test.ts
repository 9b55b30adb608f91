/**
 * The registry client against Debian's docker-registry on loopback, loaded with the images
 * the box builds from busybox-static. Small loopback servers stand in for the misbehaving
 * parts of the internet: a connection cut mid-blob, a redirect to another host.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import {
  type BlobProgress,
  DigestMismatchError,
  downloadBlobToFile,
  MediaTypes,
  PlatformNotFoundError,
  RegistryClient,
  UnauthorizedError,
} from '../../src/portlayer/storage/registry';
import {
  type PushedTestImages,
  pushTestImages,
  startTestRegistry,
  type TestRegistry,
} from '../../src/simulator/registry';

const USER = { username: 'alice', password: 'wonderland' };

async function sha256File(path: string): Promise<string> {
  return `sha256:${createHash('sha256')
    .update(await readFile(path))
    .digest('hex')}`;
}

function countingSink(): Writable & { bytes: number } {
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      sink.bytes += chunk.length;
      cb();
    },
  }) as Writable & { bytes: number };
  sink.bytes = 0;
  // The client destroys a sink with its error; the test looks at the rejection instead.
  sink.on('error', () => {});
  return sink;
}

async function listen(server: Server, host = '127.0.0.1'): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return `${host}:${(server.address() as AddressInfo).port}`;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

type Intercept = (req: IncomingMessage, res: ServerResponse, forward: () => void) => void;

/** An HTTP proxy in front of the registry whose behaviour per request a test can change. */
function proxyTo(upstream: string, intercept: Intercept): Server {
  return createServer((req, res) => {
    const forward = (): void => {
      const [hostname, port] = upstream.split(':');
      const up = httpRequest(
        {
          hostname,
          port: Number(port),
          path: req.url,
          method: req.method,
          headers: { ...req.headers, host: upstream },
        },
        (upRes) => {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
        },
      );
      up.on('error', () => res.destroy());
      req.pipe(up);
    };
    intercept(req, res, forward);
  });
}

describe('registry client against docker-registry', () => {
  let registry: TestRegistry;
  let pushed: PushedTestImages;
  let client: RegistryClient;
  let scratch: string;

  beforeAll(async () => {
    registry = await startTestRegistry();
    pushed = await pushTestImages(registry);
    client = new RegistryClient({ insecureRegistries: [registry.host] });
    scratch = await mkdtemp(join(tmpdir(), 'vch-pull-'));
  });
  afterAll(async () => {
    await client?.close();
    await registry?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  test('pulls by tag: schema2 manifest, config, every layer verified to a file with progress', async () => {
    const busybox = pushed.images.busybox;
    const image = await client.resolveImage(busybox.references.tag);
    expect(image.manifestDigest).toBe(busybox.manifest.digest);
    expect(image.manifestMediaType).toBe(MediaTypes.dockerManifest);
    expect(image.index).toBeUndefined();
    expect(image.configDescriptor.digest).toBe(busybox.config.digest);
    expect(image.config).toMatchObject({ os: 'linux', architecture: 'amd64', config: { Cmd: ['sh'] } });
    expect(image.layers.map((l) => l.digest)).toEqual(busybox.layers.map((l) => l.digest));
    const progress: BlobProgress[] = [];
    for (const layer of image.layers) {
      const path = join(scratch, layer.digest.slice(7));
      await downloadBlobToFile(image.repository, layer, path, { onProgress: (p) => progress.push(p) });
      expect(await sha256File(path)).toBe(layer.digest);
    }
    expect(progress.at(-1)).toEqual({ current: image.layers[0]!.size, total: image.layers[0]!.size });
    expect(progress.every((p, i) => i === 0 || p.current >= progress[i - 1]!.current)).toBe(true);
  });

  test('the second tag names the same manifest; pulling by digest gets it too', async () => {
    const httpd = pushed.images.httpd;
    const bySecond = await client.resolveImage(httpd.references.secondTag);
    const byDigest = await client.resolveImage(httpd.references.digest);
    expect(bySecond.manifestDigest).toBe(httpd.manifest.digest);
    expect(byDigest.manifestDigest).toBe(httpd.manifest.digest);
    expect(byDigest.reference.digest).toBe(httpd.manifest.digest);
    expect(byDigest.config.config?.ExposedPorts).toEqual({ '80/tcp': {} });
  });

  test('through a Docker manifest list and an OCI index, linux/amd64 is chosen over arm64', async () => {
    for (const name of ['busybox', 'layers'] as const) {
      const built = pushed.images[name];
      const image = await client.resolveImage(built.references.index);
      expect(image.index?.digest).toBe(built.index.digest);
      expect(image.index?.mediaType).toBe(name === 'busybox' ? MediaTypes.dockerManifestList : MediaTypes.ociIndex);
      expect(image.manifestDigest).toBe(built.manifest.digest);
      expect(image.config.architecture).toBe('amd64');
    }
    const arm = await client.resolveImage(pushed.images.busybox.references.index, {
      platform: { os: 'linux', architecture: 'arm64' },
    });
    expect(arm.config.architecture).toBe('arm64');
  });

  test('an index without linux/amd64 is a clear error', async () => {
    const error = await client.resolveImage(pushed.arm64OnlyReference).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PlatformNotFoundError);
    expect((error as Error).message).toMatch(/no matching manifest for linux\/amd64 .*available: linux\/arm64\/v8/);
  });

  test('the non-root image carries its USER; the multi-layer image has three layers', async () => {
    const nonroot = await client.resolveImage(pushed.images.nonroot.references.tag);
    expect(nonroot.config.config?.User).toBe('app');
    expect(nonroot.manifestMediaType).toBe(MediaTypes.ociManifest);
    const layers = await client.resolveImage(pushed.images.layers.references.tag);
    expect(layers.layers).toHaveLength(3);
  });

  test('downloads layers in parallel, no more than the limit at once', async () => {
    const image = await client.resolveImage(pushed.images.layers.references.tag);
    let inFlight = 0;
    let maxInFlight = 0;
    const sinks: (Writable & { bytes: number })[] = [];
    await client.downloadLayers(
      image,
      () => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        const sink = countingSink();
        sink.on('finish', () => inFlight--);
        sinks.push(sink);
        return sink;
      },
      { concurrency: 2 },
    );
    expect(maxInFlight).toBe(2);
    expect(sinks.map((s) => s.bytes).sort()).toEqual(image.layers.map((l) => l.size).sort());
  });

  test('docker.io references go to the configured mirror first', async () => {
    const mirrored = new RegistryClient({ mirrors: [registry.url] });
    try {
      const image = await mirrored.resolveImage('busybox');
      expect(image.repository.endpoint.origin).toBe(registry.url);
      expect(image.reference).toMatchObject({ domain: 'docker.io', path: 'library/busybox', tag: 'latest' });
      expect(image.manifestDigest).toBe(pushed.images.busybox.manifest.digest);
    } finally {
      await mirrored.close();
    }
  });

  test('a tampered blob fails its digest check and leaves no file behind', async () => {
    // The OCI arm64 placeholder layer: stored once, used by no other test.
    const layer = pushed.images.layers.placeholder.layers[0]!;
    const file = await open(registry.blobDataPath(layer.digest), 'r+');
    try {
      const byte = Buffer.alloc(1);
      await file.read(byte, 0, 1, 20);
      byte[0] = byte[0]! ^ 0xff;
      await file.write(byte, 0, 1, 20);
    } finally {
      await file.close();
    }
    const repo = client.repository(`${registry.host}/vch-test/layers`);
    const path = join(scratch, 'tampered');
    const error = await downloadBlobToFile(repo, layer, path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DigestMismatchError);
    expect((error as DigestMismatchError).expected).toBe(layer.digest);
    expect((error as DigestMismatchError).actual).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect((error as DigestMismatchError).actual).not.toBe(layer.digest);
    expect((error as Error).message).toContain(layer.digest);
    expect(existsSync(path)).toBe(false);
    expect(existsSync(`${path}.partial`)).toBe(false);
    // A plain sink is destroyed, never finished.
    const sink = countingSink();
    let finished = false;
    sink.on('finish', () => {
      finished = true;
    });
    await expect(repo.downloadBlob(layer, sink)).rejects.toBeInstanceOf(DigestMismatchError);
    expect(finished).toBe(false);
    expect(sink.destroyed).toBe(true);
  });

  test('a connection dropped mid-blob is resumed with Range and the blob verifies', async () => {
    const layer = pushed.images.busybox.layers[0]!;
    const cutAfter = 300_000;
    const ranges: (string | undefined)[] = [];
    let cut = false;
    const proxy = proxyTo(registry.host, (req, res, forward) => {
      if (!req.url?.includes(`/blobs/${layer.digest}`) || req.method !== 'GET') return forward();
      ranges.push(req.headers.range);
      if (cut) return forward();
      cut = true;
      // First answer: all the headers, then only the first bytes, then the socket dies.
      void readFile(registry.blobDataPath(layer.digest)).then((data) => {
        res.writeHead(200, { 'content-length': String(data.length), 'content-type': 'application/octet-stream' });
        res.write(data.subarray(0, cutAfter), () => setTimeout(() => res.socket?.destroy(), 50));
      });
    });
    const proxyHost = await listen(proxy);
    const viaProxy = new RegistryClient({ insecureRegistries: [proxyHost] });
    try {
      const retries: { attempt: number; offset: number }[] = [];
      const path = join(scratch, 'resumed');
      await downloadBlobToFile(viaProxy.repository(`${proxyHost}/library/busybox`), layer, path, {
        retryDelayMs: 10,
        onRetry: ({ attempt, offset }) => retries.push({ attempt, offset }),
      });
      expect(await sha256File(path)).toBe(layer.digest);
      expect(retries).toHaveLength(1);
      expect(retries[0]!.offset).toBeGreaterThan(0);
      expect(retries[0]!.offset).toBeLessThanOrEqual(cutAfter);
      expect(ranges).toEqual([undefined, `bytes=${retries[0]!.offset}-`]);
    } finally {
      await viaProxy.close();
      await close(proxy);
    }
  });

  test('gives up after the attempts allowed when every response is cut', async () => {
    const layer = pushed.images.httpd.layers[1]!;
    let requests = 0;
    const proxy = proxyTo(registry.host, (req, res, forward) => {
      if (!req.url?.includes(`/blobs/${layer.digest}`)) return forward();
      requests++;
      res.writeHead(200, { 'content-length': String(layer.size + 1000) });
      res.write(Buffer.alloc(1), () => res.socket?.destroy());
    });
    const proxyHost = await listen(proxy);
    const viaProxy = new RegistryClient({ insecureRegistries: [proxyHost] });
    try {
      const sink = countingSink();
      await expect(
        viaProxy
          .repository(`${proxyHost}/vch-test/httpd`)
          .downloadBlob(layer, sink, { retryDelayMs: 1, maxAttempts: 3 }),
      ).rejects.toThrow();
      expect(requests).toBe(3);
    } finally {
      await viaProxy.close();
      await close(proxy);
    }
  });
});

describe('password-protected registry (htpasswd)', () => {
  let registry: TestRegistry;
  let pushed: PushedTestImages;

  beforeAll(async () => {
    registry = await startTestRegistry({ auth: { kind: 'htpasswd', users: [USER] } });
    pushed = await pushTestImages(registry);
  });
  afterAll(async () => {
    await registry?.stop();
  });

  test('401 without credentials or with wrong ones; pulls with the right ones', async () => {
    const client = new RegistryClient({ insecureRegistries: [registry.host] });
    try {
      const ref = pushed.images.busybox.references.tag;
      const anonymous = await client.resolveImage(ref).catch((e: unknown) => e);
      expect(anonymous).toBeInstanceOf(UnauthorizedError);
      expect((anonymous as UnauthorizedError).status).toBe(401);
      await expect(
        client.resolveImage(ref, { credentials: { username: USER.username, password: 'wrong' } }),
      ).rejects.toBeInstanceOf(UnauthorizedError);
      const image = await client.resolveImage(ref, { credentials: USER });
      expect(image.manifestDigest).toBe(pushed.images.busybox.manifest.digest);
      const sink = countingSink();
      await image.repository.downloadBlob(image.layers[0]!, sink);
      expect(sink.bytes).toBe(image.layers[0]!.size);
    } finally {
      await client.close();
    }
  });

  test('a redirect to another host is followed without the Authorization header', async () => {
    const layer = pushed.images.nonroot.layers[1]!;
    const seenByStorage: (string | undefined)[] = [];
    const seenByRegistry: (string | undefined)[] = [];
    // "Blob storage" on another loopback address: a different host, as S3 would be.
    const storage = createServer((req, res) => {
      seenByStorage.push(req.headers.authorization);
      void readFile(registry.blobDataPath(layer.digest)).then((data) => res.end(data));
    });
    const storageHost = await listen(storage, '127.0.0.2');
    const front = proxyTo(registry.host, (req, res, forward) => {
      if (req.method === 'GET' && req.url?.includes(`/blobs/${layer.digest}`)) {
        seenByRegistry.push(req.headers.authorization);
        if (req.headers.authorization) {
          res.writeHead(307, { location: `http://${storageHost}/blob/${layer.digest}?signature=x` }).end();
          return;
        }
      }
      forward();
    });
    const frontHost = await listen(front);
    const client = new RegistryClient({ insecureRegistries: [frontHost] });
    try {
      const sink = countingSink();
      await client.repository(`${frontHost}/vch-test/nonroot`, USER).downloadBlob(layer, sink);
      expect(sink.bytes).toBe(layer.size);
      expect(seenByRegistry.at(-1)).toMatch(/^Basic /);
      expect(seenByStorage).toEqual([undefined]);
    } finally {
      await client.close();
      await close(front);
      await close(storage);
    }
  });
});

describe('bearer-token registry (docker-registry auth.token + loopback token server)', () => {
  const BOB = { username: 'bob', password: 'builder' };
  let registry: TestRegistry;
  let pushed: PushedTestImages;

  beforeAll(async () => {
    registry = await startTestRegistry({ auth: { kind: 'token', users: [BOB], anonymousPull: true } });
    pushed = await pushTestImages(registry);
  });
  afterAll(async () => {
    await registry?.stop();
  });

  test('anonymous pull gets a pull token once per scope and reuses it', async () => {
    const client = new RegistryClient({ insecureRegistries: [registry.host] });
    const tokenServer = registry.tokenServer!;
    try {
      const before = tokenServer.requests.length;
      const image = await client.resolveImage(pushed.images.busybox.references.index);
      await client.downloadLayers(image, () => countingSink());
      await client.resolveImage(pushed.images.busybox.references.digest);
      const mine = tokenServer.requests.slice(before);
      expect(mine).toEqual([{ scopes: ['repository:library/busybox:pull'] }]);
      expect(client.auth.tokenFetches).toBe(1);
      await client.resolveImage(pushed.images.httpd.references.tag);
      expect(tokenServer.requests.slice(before).map((r) => r.scopes)).toEqual([
        ['repository:library/busybox:pull'],
        ['repository:vch-test/httpd:pull'],
      ]);
    } finally {
      await client.close();
    }
  });

  test('push needs a user: anonymous push is refused, bob may push', async () => {
    const client = new RegistryClient({ insecureRegistries: [registry.host] });
    try {
      const data = Buffer.from('pushed by a test\n');
      await expect(client.repository(`${registry.host}/vch-test/scratch`).uploadBlob(data)).rejects.toBeInstanceOf(
        UnauthorizedError,
      );
      const digest = await client.repository(`${registry.host}/vch-test/scratch`, BOB).uploadBlob(data);
      expect(await client.repository(`${registry.host}/vch-test/scratch`, BOB).blobExists(digest)).toBe(true);
      expect(registry.tokenServer!.requests.some((r) => r.user === 'bob')).toBe(true);
    } finally {
      await client.close();
    }
  });
});

describe('TLS registry with a private CA', () => {
  let registry: TestRegistry;

  beforeAll(async () => {
    registry = await startTestRegistry({ tls: true });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  test('trusted with the CA option, refused without it', async () => {
    const pushed = await pushTestImages(registry);
    const ref = pushed.images.busybox.references.tag;
    const withCa = new RegistryClient({ ca: registry.ca! });
    const withoutCa = new RegistryClient();
    try {
      expect((await withCa.resolveImage(ref)).manifestDigest).toBe(pushed.images.busybox.manifest.digest);
      await expect(withoutCa.resolveImage(ref)).rejects.toThrow(/certificate/i);
    } finally {
      await withCa.close();
      await withoutCa.close();
    }
  });
});
