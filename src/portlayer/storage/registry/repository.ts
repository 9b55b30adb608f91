/**
 * One repository on one registry endpoint: manifests and blobs by digest, verified; blob
 * downloads that stream to the caller with progress and resume with `Range`; and the small
 * push side (monolithic blob upload, manifest put) the test registry needs.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { repositoryScope } from './auth';
import { DigestMismatchError, DigestVerifier, digestLike, parseDigest, sha256Digest } from './digest';
import { RegistryError } from './errors';
import {
  type AnyManifest,
  type Descriptor,
  type ImageConfig,
  MANIFEST_ACCEPT,
  parseImageConfig,
  parseManifest,
} from './manifest-types';
import type { RegistryCredentials } from './registry-auth-header';
import { errorFromResponse, headerValue, type RegistryHttp, readBody } from './registry-http';

/** Manifests are small; anything bigger is a misbehaving registry. */
const MANIFEST_SIZE_LIMIT = 4 * 1024 * 1024;
const CONFIG_SIZE_LIMIT = 8 * 1024 * 1024;
const DEFAULT_DOWNLOAD_ATTEMPTS = 5;

export interface FetchedManifest {
  /** Digest of the exact bytes received (verified against the one asked for / announced). */
  readonly digest: string;
  readonly mediaType: string;
  readonly bytes: Buffer;
  readonly manifest: AnyManifest;
}

export interface BlobProgress {
  /** Bytes delivered to the sink so far (resumed bytes are not counted twice). */
  readonly current: number;
  readonly total: number;
}

export interface DownloadOptions {
  readonly onProgress?: (progress: BlobProgress) => void;
  /** Attempts in all, counting the first; each retry resumes with `Range`. Default 5. */
  readonly maxAttempts?: number;
  /** Pause between attempts, ms (doubles each time). Default 200. */
  readonly retryDelayMs?: number;
  /** Called before each resumed attempt — for logs and tests. */
  readonly onRetry?: (info: { attempt: number; offset: number; error: unknown }) => void;
  readonly signal?: AbortSignal;
}

/** The server gave us a broken body; worth resuming. */
class TransientDownloadError extends Error {
  override readonly name = 'TransientDownloadError';
}

export class RegistryRepository {
  constructor(
    private readonly http: RegistryHttp,
    /** Repository path on the registry: `library/busybox`. */
    readonly name: string,
    private readonly credentials: RegistryCredentials | undefined,
  ) {}

  /** `https://host:port` this repository is read from (a mirror, for docker.io via one). */
  get endpoint(): URL {
    return this.http.baseUrl;
  }

  private scope(push = false): string {
    return repositoryScope(this.name, push ? ['pull', 'push'] : ['pull']);
  }

  /** Fetches a manifest by tag or digest and verifies its digest. */
  async getManifest(reference: string, signal?: AbortSignal): Promise<FetchedManifest> {
    const what = `manifest ${this.name}:${reference}`;
    const res = await this.http.sendOk(
      {
        method: 'GET',
        url: `/v2/${this.name}/manifests/${reference}`,
        headers: { accept: MANIFEST_ACCEPT.join(', ') },
        scope: this.scope(),
        ...(signal ? { signal } : {}),
      },
      this.credentials,
      what,
    );
    const bytes = await readBody(res.body, MANIFEST_SIZE_LIMIT, what);
    const announced = headerValue(res.headers, 'docker-content-digest');
    const byDigest = reference.includes(':');
    // Pulled by digest, the digest asked for is the truth; by tag, the registry's header is
    // the claim to check (sha256 when it sends none).
    const expected = byDigest ? reference : announced;
    const digest = expected !== undefined ? digestLike(expected, bytes) : sha256Digest(bytes);
    if (expected !== undefined && digest !== expected) throw new DigestMismatchError(what, expected, digest);
    const manifest = parseManifest(bytes, headerValue(res.headers, 'content-type'));
    return { digest, mediaType: manifest.mediaType, bytes, manifest };
  }

  /** Fetches a small blob into memory (image configs), verified. */
  async getBlobBytes(desc: Descriptor, limit = CONFIG_SIZE_LIMIT): Promise<Buffer> {
    const what = `blob ${desc.digest}`;
    if (desc.size > limit) throw new RegistryError(`${what} is larger than ${limit} bytes`, 413);
    const verifier = new DigestVerifier(desc.digest, what);
    const res = await this.http.sendOk(
      { method: 'GET', url: `/v2/${this.name}/blobs/${desc.digest}`, scope: this.scope() },
      this.credentials,
      what,
    );
    const bytes = await readBody(res.body, limit, what);
    verifier.update(bytes);
    verifier.verify();
    return bytes;
  }

  async getConfig(desc: Descriptor): Promise<ImageConfig> {
    return parseImageConfig(await this.getBlobBytes(desc));
  }

  /**
   * Streams a blob into `sink`, verifying size and digest as it goes. If the connection
   * drops, it resumes from the last byte delivered with `Range` (up to maxAttempts in all).
   *
   * The sink is ended (so emits 'finish') only after the digest has been verified. On any
   * failure the sink is destroyed with the error (give it an 'error' listener), so a caller
   * never sees a partial blob finish; `downloadBlobToFile` builds on this to leave no file.
   */
  async downloadBlob(desc: Descriptor, sink: Writable, options: DownloadOptions = {}): Promise<void> {
    const what = `blob ${desc.digest}`;
    const maxAttempts = options.maxAttempts ?? DEFAULT_DOWNLOAD_ATTEMPTS;
    let delay = options.retryDelayMs ?? 200;
    const verifier = new DigestVerifier(desc.digest, what);
    // Shared with each attempt: bytes already hashed and written survive a failed attempt.
    const progress = { offset: 0 };
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          await this.downloadAttempt(desc, sink, verifier, progress, options);
          if (progress.offset !== desc.size) {
            throw new TransientDownloadError(
              `${what}: connection closed after ${progress.offset} of ${desc.size} bytes`,
            );
          }
          break;
        } catch (error) {
          const transient = error instanceof TransientDownloadError || isNetworkError(error);
          if (!transient || attempt >= maxAttempts || options.signal?.aborted) throw error;
          options.onRetry?.({ attempt, offset: progress.offset, error });
          await new Promise((r) => setTimeout(r, delay));
          delay *= 2;
        }
      }
      verifier.verify();
      sink.end();
      await once(sink, 'finish');
    } catch (error) {
      sink.destroy(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
  }

  /** One GET from `progress.offset`, advancing it as bytes reach the sink. */
  private async downloadAttempt(
    desc: Descriptor,
    sink: Writable,
    verifier: DigestVerifier,
    progress: { offset: number },
    options: DownloadOptions,
  ): Promise<void> {
    const offset = progress.offset;
    const what = `blob ${desc.digest}`;
    const headers: Record<string, string> = {};
    if (offset > 0) headers.range = `bytes=${offset}-`;
    const res = await this.http.send(
      {
        method: 'GET',
        url: `/v2/${this.name}/blobs/${desc.digest}`,
        headers,
        scope: this.scope(),
        ...(options.signal ? { signal: options.signal } : {}),
      },
      this.credentials,
    );
    if (res.status >= 500) {
      await res.body.dump();
      throw new TransientDownloadError(`${what}: registry answered ${res.status}`);
    }
    if (res.status !== 200 && res.status !== 206) throw await errorFromResponse(res, what);
    // A server that ignores Range sends the whole blob again: skip what we already have.
    let skip = 0;
    if (offset > 0 && res.status === 200) skip = offset;
    if (res.status === 206) {
      const range = /^bytes (\d+)-/.exec(headerValue(res.headers, 'content-range') ?? '');
      if (!range || Number(range[1]) !== offset) {
        res.body.destroy();
        throw new RegistryError(`${what}: server resumed at the wrong offset`, 416);
      }
    }
    try {
      for await (const chunk of res.body) {
        let buf = chunk as Buffer;
        if (skip > 0) {
          const n = Math.min(skip, buf.length);
          skip -= n;
          buf = buf.subarray(n);
          if (buf.length === 0) continue;
        }
        if (progress.offset + buf.length > desc.size) {
          res.body.destroy();
          throw new DigestMismatchError(what, `${desc.size} bytes`, `more than ${desc.size} bytes`);
        }
        verifier.update(buf);
        progress.offset += buf.length;
        if (!sink.write(buf)) await once(sink, 'drain');
        options.onProgress?.({ current: progress.offset, total: desc.size });
      }
    } catch (error) {
      if (error instanceof DigestMismatchError) throw error;
      if (sink.destroyed) throw error;
      // The body broke mid-way: keep what reached the sink and let the caller resume.
      throw new TransientDownloadError(`${what}: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
      });
    }
  }

  async blobExists(digest: string): Promise<boolean> {
    const res = await this.http.send(
      { method: 'HEAD', url: `/v2/${this.name}/blobs/${digest}`, scope: this.scope(true) },
      this.credentials,
    );
    await res.body.dump();
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw await errorFromResponse(res, `blob ${digest}`);
  }

  /** Uploads a blob in one piece (POST, then PUT with the digest), unless already present. */
  async uploadBlob(data: Buffer, digest = sha256Digest(data)): Promise<string> {
    parseDigest(digest);
    if (await this.blobExists(digest)) return digest;
    const what = `upload of ${digest} to ${this.name}`;
    const start = await this.http.sendOk(
      { method: 'POST', url: `/v2/${this.name}/blobs/uploads/`, scope: this.scope(true) },
      this.credentials,
      what,
    );
    await start.body.dump();
    const location = headerValue(start.headers, 'location');
    if (!location) throw new RegistryError(`${what}: no upload location`, start.status);
    const url = new URL(location, start.url);
    url.searchParams.set('digest', digest);
    const done = await this.http.sendOk(
      {
        method: 'PUT',
        url: url.href,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(data.length) },
        body: data,
        scope: this.scope(true),
      },
      this.credentials,
      what,
    );
    await done.body.dump();
    return digest;
  }

  /** Puts a manifest under a tag or its digest; returns its digest. */
  async putManifest(reference: string, mediaType: string, bytes: Buffer): Promise<string> {
    const digest = sha256Digest(bytes);
    const res = await this.http.sendOk(
      {
        method: 'PUT',
        url: `/v2/${this.name}/manifests/${reference}`,
        headers: { 'content-type': mediaType },
        body: bytes,
        scope: this.scope(true),
      },
      this.credentials,
      `manifest ${this.name}:${reference}`,
    );
    await res.body.dump();
    const announced = headerValue(res.headers, 'docker-content-digest');
    if (announced !== undefined && announced !== digest) {
      throw new DigestMismatchError(`pushed manifest ${this.name}:${reference}`, digest, announced);
    }
    return digest;
  }
}

/** Errors from the socket rather than the registry: a resume may get past them. */
function isNetworkError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return (
    typeof code === 'string' &&
    (code.startsWith('UND_ERR_') || ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT'].includes(code)) &&
    code !== 'UND_ERR_ABORTED'
  );
}
