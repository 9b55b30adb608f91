/**
 * HTTP(S) to one vCenter/ESXi endpoint: SOAP POSTs to /sdk and authenticated streaming
 * requests (datastore /folder GET/PUT), all through one undici Pool and one session cookie.
 *
 * TLS: `thumbprint` pins the server certificate (SHA-1 as vCenter shows it, or SHA-256;
 * any case, colons optional) instead of CA verification; `insecure` skips verification
 * only when asked; otherwise the system CAs (or `ca`) verify the server.
 */
import type { Readable } from 'node:stream';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { buildConnector, type Dispatcher, Pool } from 'undici';

export const SESSION_COOKIE = 'vmware_soap_session';

export interface TransportOptions {
  /** The endpoint: `https://vc.example.com` or `https://vc.example.com/sdk` (the path defaults to /sdk). */
  readonly url: string | URL;
  /** Pin the server certificate by its SHA-1 or SHA-256 thumbprint. */
  readonly thumbprint?: string;
  /** Accept any server certificate. Only when explicitly asked for. */
  readonly insecure?: boolean;
  /** CA certificates (PEM) to verify the server with, instead of the system ones. */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  /** Parallel connections to the endpoint (default 8). */
  readonly connections?: number;
  /** The API version for SOAPAction (`urn:vim25/<version>`); may be set later. */
  readonly apiVersion?: string;
}

/** The server certificate does not match the pinned thumbprint. */
export class ThumbprintMismatchError extends Error {
  override name = 'ThumbprintMismatchError';
  constructor(
    readonly expected: string,
    readonly sha1: string,
    readonly sha256: string,
  ) {
    super(`certificate thumbprint mismatch: expected ${expected}, server presented SHA-1 ${sha1} (SHA-256 ${sha256})`);
  }
}

/** An HTTP answer that is not a SOAP response (proxy error page, wrong URL…). */
export class VimHttpError extends Error {
  override name = 'VimHttpError';
  constructor(
    readonly status: number,
    readonly body: string,
    message: string,
  ) {
    super(message);
  }
}

export interface StreamRequest {
  readonly method: 'GET' | 'PUT' | 'POST' | 'DELETE' | 'HEAD';
  /** Path on the endpoint, e.g. `/folder/vch/disk.vmdk`. */
  readonly path: string;
  readonly query?: Readonly<Record<string, string | undefined>>;
  /** Streamed as is (set `content-length` in headers when the server needs it). */
  readonly body?: Readable | Buffer | string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
}

export interface StreamResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Must be consumed or destroyed, or the connection is not released. */
  readonly body: Readable;
}

/** `AA:BB:…` / `aabb…` → `AABB…`; throws unless it is 40 (SHA-1) or 64 (SHA-256) hex digits. */
export function normalizeThumbprint(t: string): string {
  const hex = t.replace(/[:\s]/g, '').toUpperCase();
  if (!/^[0-9A-F]{40}$|^[0-9A-F]{64}$/.test(hex)) {
    throw new Error(`invalid certificate thumbprint ${JSON.stringify(t)}: expected SHA-1 or SHA-256 hex`);
  }
  return hex;
}

function pinningConnector(opts: TransportOptions): buildConnector.connector | buildConnector.BuildOptions {
  const ca = opts.ca === undefined ? undefined : Array.isArray(opts.ca) ? [...opts.ca] : (opts.ca as string | Buffer);
  if (opts.thumbprint === undefined) {
    return { rejectUnauthorized: opts.insecure !== true, ca };
  }
  const want = normalizeThumbprint(opts.thumbprint);
  // The pin replaces CA and host name checks: vCenters usually present self-signed certificates.
  // No TLS session resumption: a resumed session shows no peer certificate to check.
  const base = buildConnector({ rejectUnauthorized: false, maxCachedSessions: 0 });
  return (options, callback) => {
    base(options, (err, socket) => {
      if (err !== null) {
        callback(err, null);
        return;
      }
      if (!('getPeerCertificate' in socket)) {
        callback(null, socket); // plain http: nothing to pin
        return;
      }
      const cert: PeerCertificate = (socket as TLSSocket).getPeerCertificate();
      const sha1 = cert.fingerprint ?? '';
      const sha256 = cert.fingerprint256 ?? '';
      const got = want.length === 40 ? sha1 : sha256;
      if (got.replace(/:/g, '').toUpperCase() !== want) {
        socket.destroy();
        callback(new ThumbprintMismatchError(opts.thumbprint ?? want, sha1, sha256), null);
        return;
      }
      callback(null, socket);
    });
  };
}

function cookieFrom(setCookie: string | string[] | undefined): string | undefined {
  if (setCookie === undefined) return undefined;
  for (const line of Array.isArray(setCookie) ? setCookie : [setCookie]) {
    const pair = line.split(';', 1)[0].trim();
    if (pair.startsWith(`${SESSION_COOKIE}=`)) return pair;
  }
  return undefined;
}

function isXml(contentType: string | string[] | undefined): boolean {
  const ct = Array.isArray(contentType) ? contentType[0] : contentType;
  return ct !== undefined && /xml/i.test(ct);
}

export class Transport {
  readonly origin: string;
  readonly sdkPath: string;
  /** The API version sent in SOAPAction. */
  apiVersion: string | undefined;
  private readonly pool: Pool;
  /** `vmware_soap_session=…` as the server set it. */
  private cookie: string | undefined;
  private closed = false;

  constructor(opts: TransportOptions) {
    const url = new URL(opts.url);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`unsupported URL ${url.href}`);
    this.origin = url.origin;
    this.sdkPath = url.pathname === '/' || url.pathname === '' ? '/sdk' : url.pathname.replace(/\/+$/, '');
    this.apiVersion = opts.apiVersion;
    this.pool = new Pool(this.origin, {
      connections: opts.connections ?? 8,
      connect: pinningConnector(opts),
    });
  }

  /** The session cookie (`vmware_soap_session=…`), e.g. to hand a session to another client. */
  get sessionCookie(): string | undefined {
    return this.cookie;
  }
  set sessionCookie(v: string | undefined) {
    this.cookie = v;
  }

  private headers(extra: Readonly<Record<string, string>> | undefined): Record<string, string> {
    const h: Record<string, string> = { ...extra };
    if (this.cookie !== undefined) h.cookie = this.cookie;
    return h;
  }

  private remember(headers: Readonly<Record<string, string | string[] | undefined>>): void {
    // Single-threaded: the last Set-Cookie wins, and every request reads the current one.
    const c = cookieFrom(headers['set-cookie']);
    if (c !== undefined) this.cookie = c;
  }

  /**
   * POST a SOAP envelope to /sdk and stream the response text into `sink` as it arrives
   * (so decoding overlaps the transfer). Resolves once the body is consumed. A SOAP fault
   * (HTTP 500 with XML) is streamed like a result; anything else that is not XML is a
   * VimHttpError.
   */
  async soap(envelope: string, sink: (chunk: string) => void, signal?: AbortSignal): Promise<void> {
    if (this.closed) throw new Error('vSphere transport is closed');
    const headers = this.headers({
      'content-type': 'text/xml; charset=utf-8',
      soapaction: this.apiVersion === undefined ? 'urn:vim25' : `urn:vim25/${this.apiVersion}`,
    });
    const res = await this.pool.request({ method: 'POST', path: this.sdkPath, headers, body: envelope, signal });
    this.remember(res.headers);
    if (!((res.statusCode === 200 || res.statusCode === 500) && isXml(res.headers['content-type']))) {
      const text = await readSome(res.body, 4096);
      throw new VimHttpError(
        res.statusCode,
        text,
        `${this.origin}${this.sdkPath}: HTTP ${res.statusCode} (${String(res.headers['content-type'] ?? 'no content type')}): ${text.slice(0, 200)}`,
      );
    }
    res.body.setEncoding('utf8');
    for await (const chunk of res.body) sink(chunk as string);
  }

  /** A plain GET of a small text resource on the endpoint (e.g. /sdk/vimServiceVersions.xml). */
  async getText(path: string, signal?: AbortSignal): Promise<{ status: number; text: string }> {
    const res = await this.pool.request({ method: 'GET', path, headers: this.headers(undefined), signal });
    this.remember(res.headers);
    return { status: res.statusCode, text: await res.body.text() };
  }

  /**
   * An authenticated streaming request on the same connections and session (datastore
   * `/folder` transfers). Bodies stream both ways; nothing is buffered whole.
   */
  async stream(req: StreamRequest): Promise<StreamResponse> {
    if (this.closed) throw new Error('vSphere transport is closed');
    let path = req.path;
    if (req.query !== undefined) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(req.query)) if (v !== undefined) q.append(k, v);
      const qs = q.toString();
      if (qs !== '') path += (path.includes('?') ? '&' : '?') + qs;
    }
    const opts: Dispatcher.RequestOptions = {
      method: req.method,
      path,
      headers: this.headers(req.headers),
      body: req.body ?? null,
      signal: req.signal,
    };
    const res = await this.pool.request(opts);
    this.remember(res.headers);
    return { status: res.statusCode, headers: res.headers, body: res.body };
  }

  /** Close the connections (waits for requests in flight). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.close();
  }

  /** Close at once, failing requests in flight. */
  async destroy(): Promise<void> {
    this.closed = true;
    await this.pool.destroy();
  }
}

async function readSome(body: Readable, max: number): Promise<string> {
  let text = '';
  body.setEncoding('utf8');
  for await (const chunk of body) {
    if (text.length < max) text += chunk as string;
  }
  return text.slice(0, max);
}
