/** Reading query parameters the way dockerd's `httputils` does. */

import type { Request } from 'express';

/** The first value of a query parameter, or undefined. */
export function queryString(req: Request, name: string): string | undefined {
  const value: unknown = req.query[name];
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
  return undefined;
}

/** `httputils.BoolValue`: anything but '', 0, no, false, none is true. */
export function queryBool(req: Request, name: string): boolean {
  const s = (queryString(req, name) ?? '').trim().toLowerCase();
  return !(s === '' || s === '0' || s === 'no' || s === 'false' || s === 'none');
}

/** A route's regex capture, already URL-decoded by express. */
export function pathParam(req: Request, index: number): string {
  const value: unknown = (req.params as Record<string, unknown>)[String(index)];
  return typeof value === 'string' ? value : '';
}
