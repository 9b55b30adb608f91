/**
 * Runs Debian's `docker-registry` (distribution 2.8) on a loopback port with its storage in a
 * temp folder: the box's offline registry. Optional htpasswd or token auth, optional TLS
 * with a throwaway CA.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { type KeyPair, selfSigned, serverCertificate } from './certificates';
import { htpasswdFile, type TestUser } from './htpasswd';
import { startTokenServer, type TokenServer } from './token-server';

export const DOCKER_REGISTRY_BINARY = '/usr/bin/docker-registry';

export type TestRegistryAuth =
  | { readonly kind: 'htpasswd'; readonly users: readonly TestUser[] }
  /** Bearer tokens from a loopback token server; users (optional) get push, others pull. */
  | { readonly kind: 'token'; readonly users?: readonly TestUser[]; readonly anonymousPull?: boolean };

export interface TestRegistryOptions {
  readonly auth?: TestRegistryAuth;
  /** Serve https with a certificate from a throwaway CA (returned as `ca`). */
  readonly tls?: boolean;
  /** Keep storage here instead of a fresh temp folder (not removed on stop). */
  readonly storageDir?: string;
  /** How long to wait for the registry to answer, ms. Default 15 s. */
  readonly startTimeoutMs?: number;
}

export interface TestRegistry {
  /** `127.0.0.1:PORT`, as an image reference's domain. */
  readonly host: string;
  /** `http://127.0.0.1:PORT` (https with tls). */
  readonly url: string;
  /** The registry's filesystem storage root. */
  readonly storageDir: string;
  /** PEM of the CA that signed the registry's certificate (tls only). */
  readonly ca?: string;
  readonly auth?: TestRegistryAuth;
  readonly tokenServer?: TokenServer;
  /** Where the registry keeps a blob's bytes (for tests that tamper with them). */
  blobDataPath(digest: string): string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function waitForRegistry(
  url: string,
  child: ChildProcess,
  ca: string | undefined,
  timeoutMs: number,
  log: () => string,
): Promise<void> {
  const dispatcher = new Agent(ca ? { connect: { ca } } : {});
  const deadline = Date.now() + timeoutMs;
  try {
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`docker-registry exited (${child.exitCode ?? child.signalCode}): ${log()}`);
      }
      try {
        const res = await request(`${url}/v2/`, { dispatcher });
        await res.body.dump();
        if (res.statusCode === 200 || res.statusCode === 401) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`docker-registry did not answer on ${url} within ${timeoutMs} ms: ${log()}`);
  } finally {
    await dispatcher.close();
  }
}

export async function startTestRegistry(options: TestRegistryOptions = {}): Promise<TestRegistry> {
  if (!existsSync(DOCKER_REGISTRY_BINARY)) {
    throw new Error(`${DOCKER_REGISTRY_BINARY} not found: apt-get install docker-registry`);
  }
  const work = await mkdtemp(join(tmpdir(), 'vch-registry-'));
  const storageDir = options.storageDir ?? join(work, 'storage');
  let tokenServer: TokenServer | undefined;
  let child: ChildProcess | undefined;
  try {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const config: Record<string, unknown> = {
      version: 0.1,
      log: { level: 'error', accesslog: { disabled: true }, formatter: 'text' },
      // No blob descriptor cache: tests tamper with stored blobs and must see the disk.
      storage: {
        filesystem: { rootdirectory: storageDir },
        delete: { enabled: true },
        maintenance: { uploadpurging: { enabled: false } },
      },
      http: { addr: host, secret: 'vch-test-registry', headers: { 'X-Content-Type-Options': ['nosniff'] } },
    };
    let ca: KeyPair | undefined;
    if (options.tls) {
      ca = await selfSigned(work, 'ca', 'vch test CA');
      const server = await serverCertificate(work, ca, '127.0.0.1');
      (config.http as Record<string, unknown>).tls = { certificate: server.certPath, key: server.keyPath };
    }
    const auth = options.auth;
    if (auth?.kind === 'htpasswd') {
      const path = join(work, 'htpasswd');
      await writeFile(path, htpasswdFile(auth.users));
      config.auth = { htpasswd: { realm: 'vch-test-registry', path } };
    } else if (auth?.kind === 'token') {
      const signer = await selfSigned(work, 'token-signer', 'vch test token signer');
      const service = 'vch-test-registry';
      const issuer = 'vch-test-token-server';
      tokenServer = await startTokenServer({
        signer,
        issuer,
        service,
        ...(auth.users ? { users: auth.users } : {}),
        ...(auth.anonymousPull !== undefined ? { anonymousPull: auth.anonymousPull } : {}),
      });
      config.auth = { token: { realm: tokenServer.realm, service, issuer, rootcertbundle: signer.certPath } };
    }
    // JSON is YAML: no YAML writer needed.
    const configPath = join(work, 'config.yml');
    await writeFile(configPath, JSON.stringify(config, null, 2));
    let output = '';
    const spawned = spawn(DOCKER_REGISTRY_BINARY, ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = spawned;
    const collect = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-4000);
    };
    spawned.stdout?.on('data', collect);
    spawned.stderr?.on('data', collect);
    const scheme = options.tls ? 'https' : 'http';
    const url = `${scheme}://${host}`;
    await waitForRegistry(url, spawned, ca?.certPem, options.startTimeoutMs ?? 15_000, () => output);
    const exited = new Promise<void>((resolve) => spawned.once('exit', () => resolve()));
    const token = tokenServer;
    return {
      host,
      url,
      storageDir,
      ...(ca ? { ca: ca.certPem } : {}),
      ...(auth ? { auth } : {}),
      ...(token ? { tokenServer: token } : {}),
      blobDataPath: (digest: string) => {
        const hex = digest.replace(/^sha256:/, '');
        return join(storageDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
      },
      stop: async () => {
        if (spawned.exitCode === null && spawned.signalCode === null) {
          spawned.kill('SIGTERM');
          await exited;
        }
        await token?.stop();
        await rm(work, { recursive: true, force: true });
      },
    };
  } catch (error) {
    child?.kill('SIGKILL');
    await tokenServer?.stop();
    await rm(work, { recursive: true, force: true });
    throw error;
  }
}
