/**
 * `docker login` through the VCH: a `GET /v2/` round trip to the registry with the given
 * credentials (basic, or a bearer token the registry's token server grants for them). The
 * VCH keeps nothing; the CLI stores the credentials and sends them with each pull.
 */

import {
  type AuthService,
  InvalidParameterError,
  type LoginResult,
  type RegistryCredentials,
  UnauthorizedError,
  UnavailableError,
} from '../api';
import type { RegistryClient } from '../storage/registry/client';
import { RegistryError, UnauthorizedError as RegistryUnauthorizedError } from '../storage/registry/errors';
import { DOCKER_HUB_DOMAIN } from '../storage/registry/reference';

/** Names the CLI and users give Docker Hub (the CLI sends `https://index.docker.io/v1/`). */
const HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/** The registry domain (`host[:port]`) a login's server address names. */
export function loginDomain(serverAddress: string | undefined): string {
  const text = (serverAddress ?? '').trim();
  if (text === '') return DOCKER_HUB_DOMAIN;
  const host = text
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
    .split('/')[0]!
    .toLowerCase();
  if (host === '') throw new InvalidParameterError(`invalid registry address: ${text}`);
  return HUB_ALIASES.has(host) ? DOCKER_HUB_DOMAIN : host;
}

const STATUS_TEXT: Readonly<Record<number, string>> = { 401: 'Unauthorized', 403: 'Forbidden' };

export class RegistryLoginService implements AuthService {
  constructor(private readonly registry: RegistryClient) {}

  async login(credentials: RegistryCredentials): Promise<LoginResult> {
    const domain = loginDomain(credentials.serverAddress);
    const endpoint = new URL('/v2/', this.registry.endpointsFor(domain).at(-1)!);
    try {
      await this.registry.checkLogin(domain, credentials);
    } catch (error) {
      if (error instanceof RegistryUnauthorizedError) {
        // dockerd's words, which users and scripts know.
        const status = `${error.status} ${STATUS_TEXT[error.status] ?? ''}`.trim();
        throw new UnauthorizedError(`login attempt to ${endpoint.href} failed with status: ${status}`, {
          cause: error,
        });
      }
      if (error instanceof RegistryError) {
        throw new UnavailableError(`login attempt to ${endpoint.href} failed: ${error.message}`, { cause: error });
      }
      const reason = error instanceof Error ? error.message : String(error);
      throw new UnavailableError(`cannot reach ${endpoint.href}: ${reason}`, { cause: error });
    }
    return { status: 'Login Succeeded' };
  }
}
