/**
 * `GET /events`: the personality's EventBus as dockerd's stream of JSON objects, one per
 * line. `since` replays what the bus still remembers, `until` ends the stream (at once when
 * it is in the past), `filters` select as dockerd's do.
 */

import { type Request, Router } from 'express';
import { type DockerEvent, EVENT_FILTERS, type EventBus, eventMatches } from '../containers/event-bus';
import { parseFilters, parseTimestamp } from '../filters';
import { queryString } from '../request-params';

function timeNs(req: Request, name: string): number | undefined {
  const raw = queryString(req, name);
  if (raw === undefined || raw === '') return undefined;
  return parseTimestamp(raw).getTime() * 1_000_000;
}

export function eventRoutes(bus: EventBus): Router {
  const router = Router();
  router.get('/events', (req, res) => {
    const filters = parseFilters(queryString(req, 'filters'));
    filters.validate(EVENT_FILTERS);
    const since = timeNs(req, 'since');
    const until = timeNs(req, 'until');
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    const send = (e: DockerEvent): void => {
      if (eventMatches(e, filters)) res.write(`${JSON.stringify(e)}\n`);
    };
    const nowNs = Date.now() * 1_000_000;
    if (since !== undefined) for (const e of bus.history(since, until ?? nowNs)) send(e);
    if (until !== undefined && until <= nowNs) {
      res.end();
      return;
    }
    const off = bus.subscribe((e) => {
      if (until !== undefined && e.timeNano > until) return;
      send(e);
    });
    const timer = until !== undefined ? setTimeout(() => res.end(), (until - nowNs) / 1_000_000) : undefined;
    res.on('close', () => {
      off();
      if (timer !== undefined) clearTimeout(timer);
    });
  });
  return router;
}
