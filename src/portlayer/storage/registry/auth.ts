/**
 * Registry authentication: remembers each registry's challenge (so later requests
 * authenticate up front instead of taking a 401 each time) and caches bearer tokens per
 * realm/service/scope/user until shortly before they expire.
 */

import { UnauthorizedError } from './errors';
import type { RegistryCredentials } from './registry-auth-header';
import { type AuthChallenge, parseWwwAuthenticate } from './www-authenticate';

/** Fetches a token from a realm; injected so the HTTP layer stays in one place. */
export type TokenFetcher = (url: URL, headers: Record<string, string>) => Promise<{ status: number; body: string }>;

interface CachedToken {
  readonly token: string;
  readonly expiresAt: number;
}

/** Docker's default when a token server omits expires_in. */
const DEFAULT_TOKEN_LIFETIME_S = 60;
/** Renew a little early so a token does not expire between check and use. */
const EXPIRY_MARGIN_MS = 5_000;

export function basicAuthorization(creds: RegistryCredentials): string | undefined {
  if (creds.username === undefined && creds.password === undefined) return undefined;
  return `Basic ${Buffer.from(`${creds.username ?? ''}:${creds.password ?? ''}`).toString('base64')}`;
}

/** `repository:library/busybox:pull` or `…:pull,push`. */
export function repositoryScope(repository: string, actions: readonly ('pull' | 'push')[]): string {
  return `repository:${repository}:${actions.join(',')}`;
}

export class RegistryAuthenticator {
  private readonly challenges = new Map<string, AuthChallenge>();
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pending = new Map<string, Promise<string>>();
  /** How many tokens were fetched: lets tests prove the cache works. */
  tokenFetches = 0;

  constructor(private readonly fetchToken: TokenFetcher) {}

  /** The Authorization header to send to `origin` for `scope`, if we know what it wants. */
  async authorization(
    origin: string,
    scope: string,
    creds: RegistryCredentials | undefined,
  ): Promise<string | undefined> {
    if (creds?.registryToken !== undefined) return `Bearer ${creds.registryToken}`;
    const challenge = this.challenges.get(origin);
    if (!challenge) return undefined;
    if (challenge.scheme === 'basic') return creds ? basicAuthorization(creds) : undefined;
    if (challenge.scheme === 'bearer') return `Bearer ${await this.token(challenge, scope, creds)}`;
    return undefined;
  }

  /**
   * Records the challenge of a 401 and says whether retrying can help: true when this is a
   * challenge we had not answered yet (first 401, or a bearer token that may have gone stale).
   */
  handleUnauthorized(
    origin: string,
    header: string | string[] | undefined,
    scope: string,
    creds: RegistryCredentials | undefined,
    sentAuthorization: string | undefined,
  ): boolean {
    const challenges = parseWwwAuthenticate(header);
    const challenge = challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
    if (!challenge) return false;
    const known = this.challenges.get(origin);
    this.challenges.set(origin, challenge);
    if (challenge.scheme === 'basic') {
      // Retrying helps only if we have credentials and did not send them already.
      return creds !== undefined && sentAuthorization === undefined && basicAuthorization(creds) !== undefined;
    }
    if (challenge.scheme === 'bearer') {
      if (sentAuthorization === undefined || known?.scheme !== 'bearer') return true;
      // A bearer token was refused: drop it so the retry fetches a fresh one, once.
      const key = this.tokenKey(challenge, scope, creds);
      const had = this.tokens.delete(key);
      return had;
    }
    return false;
  }

  private tokenKey(challenge: AuthChallenge, scope: string, creds: RegistryCredentials | undefined): string {
    return JSON.stringify([challenge.params.realm, challenge.params.service, scope, creds?.username ?? '']);
  }

  private async token(
    challenge: AuthChallenge,
    scope: string,
    creds: RegistryCredentials | undefined,
  ): Promise<string> {
    const key = this.tokenKey(challenge, scope, creds);
    const cached = this.tokens.get(key);
    if (cached && cached.expiresAt > Date.now() + EXPIRY_MARGIN_MS) return cached.token;
    // Parallel layer downloads share one token request rather than racing three.
    let inFlight = this.pending.get(key);
    if (!inFlight) {
      inFlight = this.requestToken(challenge, scope, creds, key).finally(() => this.pending.delete(key));
      this.pending.set(key, inFlight);
    }
    return inFlight;
  }

  private async requestToken(
    challenge: AuthChallenge,
    scope: string,
    creds: RegistryCredentials | undefined,
    key: string,
  ): Promise<string> {
    const realm = challenge.params.realm;
    if (!realm) throw new UnauthorizedError('bearer challenge without realm', 401);
    const url = new URL(realm);
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    // A login check (`GET /v2/`) asks for a token with no scope at all, as Docker does.
    if (scope !== '') url.searchParams.append('scope', scope);
    const headers: Record<string, string> = {};
    const basic = creds ? basicAuthorization(creds) : undefined;
    if (basic) {
      headers.authorization = basic;
      if (creds?.username) url.searchParams.set('account', creds.username);
    }
    this.tokenFetches++;
    const res = await this.fetchToken(url, headers);
    if (res.status === 401 || res.status === 403) {
      throw new UnauthorizedError(
        `token server refused ${creds?.username ? 'the credentials' : 'anonymous access'}`,
        res.status,
      );
    }
    if (res.status !== 200) throw new UnauthorizedError(`token server answered ${res.status}`, res.status);
    let body: unknown;
    try {
      body = JSON.parse(res.body);
    } catch {
      throw new UnauthorizedError('token server answered with something other than JSON', res.status);
    }
    const obj = (body ?? {}) as { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
    const token =
      typeof obj.token === 'string' ? obj.token : typeof obj.access_token === 'string' ? obj.access_token : '';
    if (token === '') throw new UnauthorizedError('token server answered without a token', res.status);
    const lifetime =
      typeof obj.expires_in === 'number' && obj.expires_in > 0 ? obj.expires_in : DEFAULT_TOKEN_LIFETIME_S;
    const issued = typeof obj.issued_at === 'string' ? Date.parse(obj.issued_at) : Number.NaN;
    const start = Number.isFinite(issued) ? Math.min(issued, Date.now()) : Date.now();
    this.tokens.set(key, { token, expiresAt: start + lifetime * 1000 });
    return token;
  }
}
