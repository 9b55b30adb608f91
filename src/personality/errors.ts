/**
 * Docker-shaped errors: every failure leaves as `{"message": …}` with the status dockerd
 * would choose. Handlers throw (or reject with) the port layer's error hierarchy; this
 * module alone decides the status, so a route never writes an error body itself.
 */

import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { type ErrorKind, PortLayerError } from '../portlayer/api';
import { sendJson } from './json-response';

const STATUS_BY_KIND: Readonly<Record<ErrorKind, number>> = {
  'not-found': 404,
  'invalid-parameter': 400,
  conflict: 409,
  unauthorized: 401,
  forbidden: 403,
  'not-implemented': 501,
  unavailable: 503,
  system: 500,
};

/** An unknown route; dockerd answers exactly this. */
export class PageNotFoundError extends PortLayerError {
  readonly kind = 'not-found';
  constructor() {
    super('page not found');
  }
}

export interface HttpFailure {
  readonly status: number;
  readonly message: string;
}

/** Errors thrown by express or body-parser carry `status` and `type`; this recognises them without `any`. */
function frameworkError(err: unknown): { status: number; type?: string; message: string } | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const rec = err as { status?: unknown; statusCode?: unknown; type?: unknown; message?: unknown };
  const status =
    typeof rec.status === 'number' ? rec.status : typeof rec.statusCode === 'number' ? rec.statusCode : undefined;
  if (status === undefined || status < 400 || status > 599) return undefined;
  return {
    status,
    ...(typeof rec.type === 'string' ? { type: rec.type } : {}),
    message: typeof rec.message === 'string' ? rec.message : 'error',
  };
}

/** Maps anything thrown to a status and a message. Pure, so it is unit tested on its own. */
export function toHttpFailure(err: unknown): HttpFailure {
  if (err instanceof PortLayerError) return { status: STATUS_BY_KIND[err.kind], message: err.message };
  const fw = frameworkError(err);
  if (fw !== undefined) {
    switch (fw.type) {
      case 'entity.parse.failed':
        return { status: 400, message: `invalid JSON in request body: ${fw.message}` };
      case 'entity.too.large':
        return { status: 413, message: 'request body too large' };
      case 'encoding.unsupported':
      case 'charset.unsupported':
        return { status: 415, message: fw.message };
      default:
        return { status: fw.status, message: fw.status >= 500 ? 'internal server error' : fw.message };
    }
  }
  // A bug of ours. dockerd sends such messages through too, and they help more than a
  // bare 500; the stack goes to the log only.
  return { status: 500, message: err instanceof Error ? err.message : 'internal server error' };
}

/** The one express error handler. */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const failure = toHttpFailure(err);
    if (failure.status >= 500) log.error({ err, method: req.method, url: req.originalUrl }, 'request failed');
    else
      log.debug({ method: req.method, url: req.originalUrl, status: failure.status, msg: failure.message }, 'rejected');
    if (res.headersSent) {
      // A stream already started (progress, logs): the status is gone; end it so the client sees EOF.
      res.end();
      return;
    }
    sendJson(res, failure.status, { message: failure.message });
  };
}

/** Last in the chain: anything no route matched. */
export const pageNotFound: RequestHandler = (_req, _res, next) => {
  next(new PageNotFoundError());
};
