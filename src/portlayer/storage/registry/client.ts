/**
 * The puller's entry point: which endpoints serve a reference (mirrors first for docker.io,
 * http for insecure registries), resolving a reference to a single linux/amd64 image
 * (through a manifest list or OCI index), and downloading its layers three at a time.
 */
import type { Writable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import { Agent, type Dispatcher, request } from 'undici';
import { RegistryAuthenticator } from './auth';
import { mapWithConcurrency } from './concurrency';
import { DigestMismatchError } from './digest';
import { RegistryError } from './errors';
import { type Descriptor, type ImageConfig, type Platform, parseImageConfig } from './manifest-types';
import { DEFAULT_PLATFORM, selectPlatform } from './platform';
import {
  DOCKER_HUB_DOMAIN,
  type ImageReference,
  manifestReference,
  parseReference,
  registryApiHost,
} from './reference';
import type { RegistryCredentials } from './registry-auth-header';
import { errorFromResponse, RegistryHttp } from './registry-http';
import { type BlobProgress, type DownloadOptions, RegistryRepository } from './repository';

export interface RegistryClientOptions {
  /** Registries (`host:port`) spoken to over plain http, like dockerd's `insecure-registries`. */
  readonly insecureRegistries?: readonly string[];
  /** Extra trusted CA certificates (PEM), added to the system's — for private registries. */
  readonly ca?: string | readonly string[];
  /** Mirrors for docker.io (`https://mirror:5000`), tried in order before Docker Hub. */
  readonly mirrors?: readonly string[];
  readonly userAgent?: string;
  /** Overrides the HTTP dispatcher (tests); the client then does not own/close it. */
  readonly dispatcher?: Dispatcher;
}

export interface ResolveOptions {
  readonly credentials?: RegistryCredentials;
  readonly platform?: Platform;
  readonly signal?: AbortSignal;
}

/** A reference resolved to one single-platform image, with its config read and verified. */
export interface ResolvedImage {
  readonly reference: ImageReference;
  /** Where it was read from; blobs come from the same place. */
  readonly repository: RegistryRepository;
  /** Digest of the image manifest (what `docker images --digests` shows for a single-arch image). */
  readonly manifestDigest: string;
  readonly manifestMediaType: string;
  readonly manifestBytes: Buffer;
  /** Set when the reference named a manifest list / index: its digest and media type. */
  readonly index?: { readonly digest: string; readonly mediaType: string };
  /** The image ID Docker shows: the config's digest. */
  readonly configDescriptor: Descriptor;
  readonly config: ImageConfig;
  readonly configBytes: Buffer;
  readonly layers: readonly Descriptor[];
}

export interface LayerDownloadOptions {
  /** Parallel downloads; Docker's default is 3. */
  readonly concurrency?: number;
  readonly onProgress?: (layer: Descriptor, progress: BlobProgress) => void;
  readonly onRetry?: DownloadOptions['onRetry'];
  readonly maxAttempts?: number;
  readonly signal?: AbortSignal;
}

const DEFAULT_USER_AGENT = 'vch-registry-client/0.1';

export class RegistryClient {
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly insecure: ReadonlySet<string>;
  private readonly mirrors: readonly URL[];
  private readonly userAgent: string;
  private readonly endpoints = new Map<string, RegistryHttp>();
  /** Shared by all endpoints: tokens are cached per realm/service/scope. */
  readonly auth: RegistryAuthenticator;

  constructor(options: RegistryClientOptions = {}) {
    const extraCa = options.ca === undefined ? [] : typeof options.ca === 'string' ? [options.ca] : [...options.ca];
    // Node's `ca` replaces the default trust store; Docker adds a registry's CA to the
    // system pool instead, so keep the public roots (redirects to CDNs need them).
    this.dispatcher =
      options.dispatcher ??
      new Agent({ connect: extraCa.length > 0 ? { ca: [...rootCertificates, ...extraCa] } : {}, connections: 8 });
    this.ownsDispatcher = options.dispatcher === undefined;
    this.insecure = new Set(options.insecureRegistries ?? []);
    this.mirrors = (options.mirrors ?? []).map((m) => new URL(m.includes('://') ? m : `https://${m}`));
    this.userAgent = options.userAgent ?? DEFAULT_USER_AGENT;
    this.auth = new RegistryAuthenticator(async (url, headers) => {
      const res = await request(url, {
        dispatcher: this.dispatcher,
        headers: { 'user-agent': this.userAgent, ...headers },
      });
      return { status: res.statusCode, body: await res.body.text() };
    });
  }

  /** The endpoints for a domain, in the order to try them: mirrors, then the registry itself. */
  endpointsFor(domain: string): URL[] {
    const host = registryApiHost(domain);
    const own = new URL(`${this.insecure.has(domain) || this.insecure.has(host) ? 'http' : 'https'}://${host}`);
    return domain === DOCKER_HUB_DOMAIN ? [...this.mirrors, own] : [own];
  }

  private http(base: URL): RegistryHttp {
    let http = this.endpoints.get(base.origin);
    if (!http) {
      http = new RegistryHttp(new URL(base.origin), this.dispatcher, this.auth, this.userAgent);
      this.endpoints.set(base.origin, http);
    }
    return http;
  }

  /** A repository on the registry itself (never a mirror) — what push uses. */
  repository(ref: ImageReference | string, credentials?: RegistryCredentials): RegistryRepository {
    const r = typeof ref === 'string' ? parseReference(ref) : ref;
    const own = this.endpointsFor(r.domain).at(-1)!;
    return new RegistryRepository(this.http(own), r.path, credentials);
  }

  /**
   * Resolves a reference to one image for `platform` (linux/amd64 by default): by tag or
   * digest, through a manifest list / index, with the manifest and config digests verified.
   * For docker.io, mirrors are tried first; any failure there falls through to the next.
   */
  async resolveImage(ref: ImageReference | string, options: ResolveOptions = {}): Promise<ResolvedImage> {
    const reference = typeof ref === 'string' ? parseReference(ref) : ref;
    const endpoints = this.endpointsFor(reference.domain);
    let lastError: unknown;
    for (const [i, endpoint] of endpoints.entries()) {
      const repository = new RegistryRepository(this.http(endpoint), reference.path, options.credentials);
      try {
        return await resolveIn(repository, reference, options);
      } catch (error) {
        lastError = error;
        const isLast = i === endpoints.length - 1;
        // Integrity and platform errors are about the image, not the mirror: report them.
        if (isLast || error instanceof DigestMismatchError || options.signal?.aborted) throw error;
      }
    }
    throw lastError;
  }

  /**
   * Downloads every layer of `image` into the sink `open` gives for it, `concurrency` (3) at
   * a time, each verified and resumable (see RegistryRepository.downloadBlob).
   */
  async downloadLayers(
    image: ResolvedImage,
    open: (layer: Descriptor, index: number) => Writable | Promise<Writable>,
    options: LayerDownloadOptions = {},
  ): Promise<void> {
    await mapWithConcurrency(image.layers, options.concurrency ?? 3, async (layer, index) => {
      const sink = await open(layer, index);
      await image.repository.downloadBlob(layer, sink, {
        ...(options.onProgress ? { onProgress: (p: BlobProgress) => options.onProgress!(layer, p) } : {}),
        ...(options.onRetry ? { onRetry: options.onRetry } : {}),
        ...(options.maxAttempts !== undefined ? { maxAttempts: options.maxAttempts } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    });
  }

  /**
   * `docker login`'s check: `GET /v2/` on the registry itself (never a mirror: the
   * credentials are for it), answering the challenge with `credentials`. Resolves with the
   * URL that accepted them; throws UnauthorizedError when refused, RegistryError on any
   * other answer, and the network's error when unreachable.
   */
  async checkLogin(domain: string, credentials: RegistryCredentials, signal?: AbortSignal): Promise<URL> {
    const own = this.endpointsFor(domain).at(-1)!;
    const http = this.http(own);
    const res = await http.send({ method: 'GET', url: '/v2/', scope: '', ...(signal ? { signal } : {}) }, credentials);
    const url = new URL('/v2/', own);
    if (res.status >= 200 && res.status < 300) {
      await res.body.dump();
      return url;
    }
    throw await errorFromResponse(res, `login attempt to ${url.href}`);
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }
}

async function resolveIn(
  repository: RegistryRepository,
  reference: ImageReference,
  options: ResolveOptions,
): Promise<ResolvedImage> {
  const top = await repository.getManifest(manifestReference(reference), options.signal);
  let image = top;
  let index: ResolvedImage['index'];
  if (top.manifest.kind === 'index') {
    const chosen = selectPlatform(top.manifest, options.platform ?? DEFAULT_PLATFORM);
    image = await repository.getManifest(chosen.digest, options.signal);
    if (image.manifest.kind !== 'manifest') {
      throw new RegistryError(`manifest ${chosen.digest} in index ${top.digest} is itself an index`, 422);
    }
    index = { digest: top.digest, mediaType: top.mediaType };
  }
  const manifest = image.manifest;
  if (manifest.kind !== 'manifest') throw new RegistryError('unreachable: not an image manifest', 500);
  const configBytes = await repository.getBlobBytes(manifest.config);
  const config = parseImageConfig(configBytes);
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new RegistryError(
      `image ${image.digest}: config lists ${config.rootfs.diff_ids.length} layers, manifest ${manifest.layers.length}`,
      422,
    );
  }
  return {
    reference,
    repository,
    manifestDigest: image.digest,
    manifestMediaType: image.mediaType,
    manifestBytes: image.bytes,
    ...(index ? { index } : {}),
    configDescriptor: manifest.config,
    config,
    configBytes,
    layers: manifest.layers,
  };
}
