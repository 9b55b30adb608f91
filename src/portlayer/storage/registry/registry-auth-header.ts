/**
 * Decodes Docker's `X-Registry-Auth` header: base64url-encoded JSON of an AuthConfig, sent
 * by the CLI on pull and push. Pure, so the personality can call it before any I/O.
 */

/** Credentials for one registry, as the registry client consumes them. */
export interface RegistryCredentials {
  readonly username?: string;
  readonly password?: string;
  /** A bearer token to send as is (AuthConfig.registrytoken). */
  readonly registryToken?: string;
  /** An OAuth refresh token (AuthConfig.identitytoken); kept for the caller, not yet used. */
  readonly identityToken?: string;
  readonly serverAddress?: string;
}

export class InvalidRegistryAuthError extends Error {
  constructor(reason: string) {
    super(`invalid X-Registry-Auth header: ${reason}`);
    this.name = 'InvalidRegistryAuthError';
  }
}

function field(obj: Record<string, unknown>, name: string): string | undefined {
  // Docker's JSON field names are lower case, but some clients send Go-style capitalised ones.
  for (const key of Object.keys(obj)) {
    if (key.toLowerCase() === name) {
      const value = obj[key];
      if (typeof value === 'string' && value !== '') return value;
    }
  }
  return undefined;
}

/**
 * Returns the credentials in the header, or undefined when it is absent or carries none
 * (the CLI sends `e30=` — `{}` — for anonymous pulls). Throws InvalidRegistryAuthError on
 * a header that is not base64 JSON.
 */
export function decodeRegistryAuthHeader(header: string | undefined): RegistryCredentials | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  // Accept both base64url (what Docker sends) and standard base64 (older clients), padded or not.
  const normalised = header.trim().replace(/-/g, '+').replace(/_/g, '/');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(normalised)) throw new InvalidRegistryAuthError('not base64');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(normalised, 'base64').toString('utf8'));
  } catch {
    throw new InvalidRegistryAuthError('not JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new InvalidRegistryAuthError('not a JSON object');
  }
  const obj = parsed as Record<string, unknown>;
  let username = field(obj, 'username');
  let password = field(obj, 'password');
  const auth = field(obj, 'auth');
  if (auth !== undefined && username === undefined && password === undefined) {
    // `auth` is base64("user:password"), as in ~/.docker/config.json.
    const decoded = Buffer.from(auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new InvalidRegistryAuthError('auth field is not user:password');
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  const registryToken = field(obj, 'registrytoken');
  const identityToken = field(obj, 'identitytoken');
  const serverAddress = field(obj, 'serveraddress');
  if (username === undefined && password === undefined && registryToken === undefined && identityToken === undefined) {
    return undefined;
  }
  return {
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(registryToken !== undefined ? { registryToken } : {}),
    ...(identityToken !== undefined ? { identityToken } : {}),
    ...(serverAddress !== undefined ? { serverAddress } : {}),
  };
}

/** The inverse, for tests and for clients of our own API. */
export function encodeRegistryAuthHeader(creds: RegistryCredentials): string {
  const body: Record<string, string> = {};
  if (creds.username !== undefined) body.username = creds.username;
  if (creds.password !== undefined) body.password = creds.password;
  if (creds.registryToken !== undefined) body.registrytoken = creds.registryToken;
  if (creds.identityToken !== undefined) body.identitytoken = creds.identityToken;
  if (creds.serverAddress !== undefined) body.serveraddress = creds.serverAddress;
  return Buffer.from(JSON.stringify(body)).toString('base64url');
}
