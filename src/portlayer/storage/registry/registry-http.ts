/**
 * HTTP to one registry endpoint over undici: authentication (401 → challenge → retry),
 * redirects followed by hand so that `Authorization` never goes to another host (blob
 * storage behind a redirect must not see registry credentials), TLS with an extra CA.
 */
import { type Dispatcher, request } from 'undici';
import type { RegistryAuthenticator } from './auth';
import { NotFoundError, parseErrorBody, RegistryError, UnauthorizedError } from './errors';
import type { RegistryCredentials } from './registry-auth-header';

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export type HttpHeaders = Dispatcher.ResponseData['headers'];
export type HttpBody = Dispatcher.ResponseData['body'];

export interface HttpRequest {
  readonly method: HttpMethod;
  /** A path under the endpoint (`/v2/…`) or an absolute URL (upload locations). */
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Buffers only: a request may be sent twice (after a 401), so bodies must be replayable. */
  readonly body?: Buffer;
  /** Token scope this request needs. */
  readonly scope: string;
  readonly signal?: AbortSignal;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: HttpHeaders;
  readonly body: HttpBody;
  /** Where the response finally came from, after redirects. */
  readonly url: URL;
}

const MAX_REDIRECTS = 10;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

export function headerValue(headers: HttpHeaders, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** One registry endpoint (`https://host:port`), shared by every repository on it. */
export class RegistryHttp {
  constructor(
    readonly baseUrl: URL,
    private readonly dispatcher: Dispatcher,
    private readonly auth: RegistryAuthenticator,
    private readonly userAgent: string,
  ) {}

  /** Sends a request, authenticating as the registry asks. Non-2xx responses are returned. */
  async send(req: HttpRequest, creds: RegistryCredentials | undefined): Promise<HttpResponse> {
    const url = new URL(req.url, this.baseUrl);
    const origin = this.baseUrl.origin;
    for (let attempt = 0; ; attempt++) {
      const authorization = await this.auth.authorization(origin, req.scope, creds);
      const headers: Record<string, string> = { 'user-agent': this.userAgent, ...req.headers };
      if (authorization) headers.authorization = authorization;
      const res = await this.followRedirects(url, req.method, headers, req.body, req.signal);
      if (res.status !== 401 || attempt > 0) return res;
      const retry = this.auth.handleUnauthorized(
        origin,
        res.headers['www-authenticate'],
        req.scope,
        creds,
        authorization,
      );
      if (!retry) return res;
      await res.body.dump();
    }
  }

  /** Like send, but turns error statuses into typed errors (reading the registry's error body). */
  async sendOk(req: HttpRequest, creds: RegistryCredentials | undefined, what: string): Promise<HttpResponse> {
    const res = await this.send(req, creds);
    if (res.status >= 200 && res.status < 300) return res;
    throw await errorFromResponse(res, what);
  }

  private async followRedirects(
    start: URL,
    method: HttpMethod,
    headers: Record<string, string>,
    body: Buffer | undefined,
    signal: AbortSignal | undefined,
  ): Promise<HttpResponse> {
    let url = start;
    let currentMethod = method;
    let currentBody = body;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const res = await request(url, {
        dispatcher: this.dispatcher,
        method: currentMethod,
        headers,
        ...(currentBody !== undefined ? { body: currentBody } : {}),
        ...(signal ? { signal } : {}),
      });
      const location = headerValue(res.headers, 'location');
      if (!REDIRECT_STATUSES.has(res.statusCode) || location === undefined || currentMethod === 'POST') {
        // POST answers 202 with a Location for uploads — that is not a redirect to follow.
        return { status: res.statusCode, headers: res.headers, body: res.body, url };
      }
      await res.body.dump();
      const next = new URL(location, url);
      if (next.origin !== url.origin) {
        // Credentials are for the registry only; storage behind a redirect (S3, a CDN)
        // authenticates by the signed URL. Once dropped, never restored on this chain.
        delete headers.authorization;
      }
      if (res.statusCode === 303) {
        currentMethod = 'GET';
        currentBody = undefined;
      }
      url = next;
    }
    throw new RegistryError(`too many redirects fetching ${start.href}`, 310);
  }
}

/** Builds the typed error for a failed response and consumes its body. */
export async function errorFromResponse(res: HttpResponse, what: string): Promise<RegistryError> {
  let text = '';
  try {
    text = await res.body.text();
  } catch {
    // body unreadable: the status alone will do
  }
  const { code, message } = parseErrorBody(text);
  const detail = message ? `: ${message}` : '';
  if (res.status === 401 || res.status === 403) {
    return new UnauthorizedError(
      `${what}: ${res.status === 401 ? 'unauthorized' : 'denied'}${detail} (authentication required or access denied)`,
      res.status,
      code,
    );
  }
  if (res.status === 404) return new NotFoundError(`${what}: not found${detail}`, code);
  return new RegistryError(`${what}: registry answered ${res.status}${detail}`, res.status, code);
}

/** Reads a whole body with a size cap (manifests and configs only — blobs stream). */
export async function readBody(body: HttpBody, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) {
      body.destroy();
      throw new RegistryError(`${what} is larger than ${limit} bytes`, 413);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}
