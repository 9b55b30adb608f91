/** JSON-line logs (pino): one line per request, with what a support engineer needs to follow it. */

import type { RequestHandler } from 'express';
import pino, { type Logger } from 'pino';

/** The default logger: pino on stderr, level from `VCH_LOG_LEVEL` (default info). */
export function defaultLogger(): Logger {
  return pino({ name: 'vch-personality', level: process.env.VCH_LOG_LEVEL ?? 'info' }, pino.destination(2));
}

export function requestLogger(log: Logger): RequestHandler {
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    // `originalUrl` keeps the `/vX.Y` prefix the versioning middleware strips from `url`.
    const url = req.originalUrl;
    res.on('close', () => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      const entry = { method: req.method, url, status: res.statusCode, ms: Math.round(ms * 10) / 10 };
      if (!res.writableFinished) log.info({ ...entry, aborted: true }, 'request aborted by client');
      else log.info(entry, 'request');
    });
    next();
  };
}
