/**
 * Engine API version negotiation. Clients ask `HEAD /_ping` for `Api-Version`, then prefix
 * every path with `/v{X.Y}/`; a path without the prefix means the newest version. The
 * prefix is stripped here, once, so routes are written without it and read the version
 * from `res.locals.apiVersion`.
 */

import type { RequestHandler, Response } from 'express';
import { InvalidParameterError } from '../portlayer/api';

/** The newest API this server speaks (Docker 28.3). */
export const MAX_API_VERSION = '1.51';
/** The oldest: what dockerd still accepts by default. */
export const MIN_API_VERSION = '1.24';

const VERSION_PREFIX = /^\/v([0-9]+(?:\.[0-9]+)*)(\/.*)?$/;

/** Compares dotted versions numerically (`1.9` < `1.24`), as Docker's `versions.compare` does. */
export function compareApiVersions(a: string, b: string): number {
  const pa = a.split('.');
  const pb = b.split('.');
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = Number.parseInt(pa[i] ?? '0', 10) || 0;
    const y = Number.parseInt(pb[i] ?? '0', 10) || 0;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** Throws Docker's own messages for a version outside [MIN, MAX]. */
export function checkApiVersion(version: string): void {
  if (compareApiVersions(version, MIN_API_VERSION) < 0) {
    throw new InvalidParameterError(
      `client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`,
    );
  }
  if (compareApiVersions(version, MAX_API_VERSION) > 0) {
    throw new InvalidParameterError(
      `client version ${version} is too new. Maximum supported API version is ${MAX_API_VERSION}`,
    );
  }
}

/** Splits `/v1.41/images/json?x` into version and the path routes know. */
export function splitVersionPrefix(url: string): { version?: string; rest: string } {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q);
  const m = VERSION_PREFIX.exec(path);
  if (m === null) return { rest: url };
  return { version: m[1], rest: (m[2] ?? '/') + query };
}

declare module 'express-serve-static-core' {
  interface Locals {
    /** The API version the client asked for (or the newest). */
    apiVersion: string;
  }
}

/** Middleware: strips the prefix, checks the version, records it. Runs before the router. */
export const apiVersionMiddleware: RequestHandler = (req, res, next) => {
  const { version, rest } = splitVersionPrefix(req.url);
  if (version === undefined) {
    res.locals.apiVersion = MAX_API_VERSION;
    next();
    return;
  }
  req.url = rest;
  res.locals.apiVersion = version;
  checkApiVersion(version);
  next();
};

/** True when the request's API version is at least `version`. */
export function apiAtLeast(res: Response, version: string): boolean {
  return compareApiVersions(res.locals.apiVersion, version) >= 0;
}
