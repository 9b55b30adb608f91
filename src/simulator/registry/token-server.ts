/**
 * A Docker-style token server on loopback, for a registry with `auth.token`: it answers
 * `GET /token?service=…&scope=repository:name:pull,push` with an ES256 JWT whose x5c header
 * carries the signing certificate that docker-registry trusts via `rootcertbundle`.
 */
import { randomBytes, sign } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KeyPair } from './certificates';
import type { TestUser } from './htpasswd';

export interface TokenServerOptions {
  readonly signer: KeyPair;
  readonly issuer: string;
  readonly service: string;
  /** Users who get pull and push; when empty, everyone gets everything. */
  readonly users?: readonly TestUser[];
  /** With users set: may anonymous clients pull? Default true. */
  readonly anonymousPull?: boolean;
  readonly tokenLifetimeSeconds?: number;
}

export interface TokenServer {
  readonly realm: string;
  /** Every token request seen: for tests of token caching and scopes. */
  readonly requests: { readonly scopes: readonly string[]; readonly user?: string }[];
  stop(): Promise<void>;
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

function certDerBase64(pem: string): string {
  return pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
}

export function signToken(signer: KeyPair, claims: Record<string, unknown>): string {
  const header = { typ: 'JWT', alg: 'ES256', x5c: [certDerBase64(signer.certPem)] };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  // JWS wants r||s, not DER.
  const signature = sign('sha256', Buffer.from(input), { key: signer.keyPem, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64url(signature)}`;
}

function authenticate(req: IncomingMessage, users: readonly TestUser[]): TestUser | undefined | 'bad' {
  const header = req.headers.authorization;
  if (!header) return undefined;
  const match = /^Basic (.+)$/i.exec(header);
  if (!match) return 'bad';
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = users.find((u) => u.username === decoded.slice(0, colon) && u.password === decoded.slice(colon + 1));
  return user ?? 'bad';
}

export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  const users = options.users ?? [];
  const lifetime = options.tokenLifetimeSeconds ?? 300;
  const requests: { scopes: string[]; user?: string }[] = [];
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://token');
    if (url.pathname !== '/token') {
      res.writeHead(404).end();
      return;
    }
    const scopes = url.searchParams.getAll('scope');
    const who = authenticate(req, users);
    requests.push({ scopes, ...(who && who !== 'bad' ? { user: who.username } : {}) });
    if (who === 'bad') {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"incorrect username or password"}');
      return;
    }
    const mayPush = users.length === 0 || who !== undefined;
    const mayPull = mayPush || options.anonymousPull !== false;
    const access = scopes.flatMap((scope) => {
      const [type, name, actions] = [
        scope.split(':')[0],
        scope.split(':').slice(1, -1).join(':'),
        scope.split(':').at(-1),
      ];
      if (type !== 'repository' || !name || !actions) return [];
      const granted = actions.split(',').filter((a) => (a === 'push' ? mayPush : a === 'pull' ? mayPull : false));
      return [{ type, name, actions: granted }];
    });
    const now = Math.floor(Date.now() / 1000);
    const token = signToken(options.signer, {
      iss: options.issuer,
      sub: who?.username ?? '',
      aud: options.service,
      exp: now + lifetime,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(12).toString('hex'),
      access,
    });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token, access_token: token, expires_in: lifetime, issued_at: new Date().toISOString() }));
  };
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
