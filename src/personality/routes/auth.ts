/**
 * `POST /auth` — `docker login`. The body is Docker's AuthConfig; the check itself (a
 * round trip to the registry) is the port layer's, and the VCH keeps nothing: the CLI
 * stores the credentials and sends them with each pull in `X-Registry-Auth`.
 */

import { Router } from 'express';
import {
  type AuthService,
  InvalidParameterError,
  NotImplementedError,
  type RegistryCredentials,
} from '../../portlayer/api';
import { sendJson } from '../json-response';

/** One string field of the AuthConfig, matched without case (Go clients send `Username`). */
function field(body: Record<string, unknown>, name: string): string | undefined {
  for (const [key, value] of Object.entries(body)) {
    if (key.toLowerCase() === name && typeof value === 'string' && value !== '') return value;
  }
  return undefined;
}

/** The AuthConfig body as credentials; pure, so it is tested without a server. */
export function parseAuthConfig(body: unknown): RegistryCredentials {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new InvalidParameterError('invalid login request: want a JSON object (AuthConfig)');
  }
  const b = body as Record<string, unknown>;
  const username = field(b, 'username');
  const password = field(b, 'password');
  const serverAddress = field(b, 'serveraddress');
  const identityToken = field(b, 'identitytoken');
  const registryToken = field(b, 'registrytoken');
  return {
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(serverAddress !== undefined ? { serverAddress } : {}),
    ...(identityToken !== undefined ? { identityToken } : {}),
    ...(registryToken !== undefined ? { registryToken } : {}),
  };
}

export function authRoutes(auth: AuthService | undefined): Router {
  const router = Router();
  router.post('/auth', async (req, res) => {
    if (auth === undefined) throw new NotImplementedError('registry login is not available on this VCH');
    const result = await auth.login(parseAuthConfig(req.body ?? {}));
    sendJson(res, 200, { Status: result.status, IdentityToken: result.identityToken ?? '' });
  });
  return router;
}
