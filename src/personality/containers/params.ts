/** Query values of the container routes, checked with 400s that name the parameter. */

import type { Request } from 'express';
import { InvalidParameterError } from '../../portlayer/api';
import { queryString } from '../request-params';

/** An integer parameter, or undefined when absent/empty. */
export function queryInt(req: Request, name: string): number | undefined {
  const raw = queryString(req, name);
  if (raw === undefined || raw === '') return undefined;
  if (!/^-?[0-9]+$/.test(raw.trim()))
    throw new InvalidParameterError(`invalid value for ${name}: ${JSON.stringify(raw)}: not an integer`);
  return Number.parseInt(raw, 10);
}

/** dockerd waits forever for `t=-1`; a timer cannot, so forever is this many seconds. */
const FOREVER_S = 2_000_000;

/** `t` of stop/restart: whole seconds, -1 for no limit, anything else negative is a 400. */
export function stopTimeout(req: Request): number | undefined {
  const t = queryInt(req, 't');
  if (t === undefined) return undefined;
  if (t === -1) return FOREVER_S;
  if (t < 0)
    throw new InvalidParameterError(`invalid value for t: ${t}: must be a non-negative number of seconds or -1`);
  return t;
}

/** Terminal size of resize routes: both positive integers. */
export function terminalSize(req: Request): { rows: number; cols: number } {
  const rows = queryInt(req, 'h');
  const cols = queryInt(req, 'w');
  if (rows === undefined || cols === undefined || rows < 0 || cols < 0 || rows > 65535 || cols > 65535)
    throw new InvalidParameterError('resize needs h and w as integers between 0 and 65535');
  return { rows, cols };
}
