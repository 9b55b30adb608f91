/**
 * `/containers/...` (and `/system/df`, which is mostly containers): the Docker side of
 * `docker run`, `ps`, `inspect`, `logs`, `stop`, `rm`… over the port layer's
 * ContainerService. Ids and name prefixes are resolved by the service; this module checks
 * requests, shapes answers, joins hijacked connections to stdio and publishes events.
 */

import { type Request, type Response, Router } from 'express';
import {
  ConflictError,
  type ContainerLogEntry,
  type ContainerService,
  type ContainerStatsSample,
  type ImageService,
  InvalidParameterError,
  NotFoundError,
  NotImplementedError,
  type WaitCondition,
} from '../../portlayer/api';
import { joinStreams } from '../containers/attach-stream';
import { selectContainers } from '../containers/container-filters';
import { isRecord, parseCreateBody, parseResources, parseRestartPolicy } from '../containers/create-spec';
import { DEFAULT_DETACH_KEYS, parseDetachKeys } from '../containers/detach-keys';
import { toDockerContainerInspect, toDockerContainerSummary, toDockerStats } from '../containers/docker-shapes';
import { type EventBus, eventSubject } from '../containers/event-bus';
import type { ExecRegistry } from '../containers/exec-registry';
import { hijack, MULTIPLEXED_STREAM, RAW_STREAM } from '../containers/hijack';
import { validateContainerName } from '../containers/names';
import { queryInt, stopTimeout, terminalSize } from '../containers/params';
import { parseSignal, signalNumber } from '../containers/signals';
import { frame } from '../containers/stdcopy';
import { type FilterArgs, matchesLabels, parseFilters, parseTimestamp } from '../filters';
import { toDockerImageSummary } from '../images/docker-shapes';
import { sendEmpty, sendJson } from '../json-response';
import { queryBool, queryString } from '../request-params';

export interface ContainerRouteDeps {
  readonly containers?: ContainerService;
  readonly images: ImageService;
  readonly events: EventBus;
  readonly execs: ExecRegistry;
}

/** The service, or a 501 when the port layer was started without the execution room. */
export function requireContainers(service: ContainerService | undefined): ContainerService {
  if (service === undefined) throw new NotImplementedError('containers are not available on this VCH yet');
  return service;
}

/** An optional service method, or a 501 naming the feature. */
function optional<T>(method: T | undefined, feature: string): T {
  if (method === undefined) throw new NotImplementedError(`${feature} is not supported by this VCH yet`);
  return method;
}

/** Starts `ref` unless it runs; the port layer's lifecycle events tell `start` and later `die`. */
async function startContainer(svc: ContainerService, ref: string): Promise<boolean> {
  const c = await svc.inspect(ref);
  if (c.state.running) return false;
  await svc.start(c.id);
  return true;
}

const WAIT_CONDITIONS: ReadonlySet<string> = new Set(['not-running', 'next-exit', 'removed']);

async function waitRoute(svc: ContainerService, req: Request, res: Response): Promise<void> {
  const raw = queryString(req, 'condition') ?? '';
  if (raw !== '' && !WAIT_CONDITIONS.has(raw)) throw new InvalidParameterError(`invalid condition: "${raw}"`);
  const condition = (raw === '' ? 'not-running' : raw) as WaitCondition;
  const ref = String(req.params.id);
  // Begin waiting before anything else so an exit right after this request is not missed.
  const waiting = svc.wait(ref, condition);
  waiting.catch(() => undefined);
  await svc.inspect(ref); // a 404 while the status can still be one
  // The CLI (docker run) waits for these headers before it starts the container.
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.flushHeaders();
  try {
    const r = await waiting;
    res.end(`${JSON.stringify({ StatusCode: r.exitCode, Error: r.error ? { Message: r.error } : null })}\n`);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    res.end(`${JSON.stringify({ StatusCode: -1, Error: { Message: message } })}\n`);
  }
}

async function attachRoute(svc: ContainerService, events: EventBus, req: Request, res: Response): Promise<void> {
  const c = await svc.inspect(String(req.params.id));
  const stream = queryBool(req, 'stream');
  const logs = queryBool(req, 'logs');
  const choice = {
    tty: c.config.tty,
    stdin: queryBool(req, 'stdin') && c.config.openStdin,
    stdout: queryBool(req, 'stdout'),
    stderr: queryBool(req, 'stderr'),
    // Read before the hijack: a bad one is still a 400.
    detachKeys: parseDetachKeys(queryString(req, 'detachKeys') || DEFAULT_DETACH_KEYS),
    // dockerd closes the process's stdin with the client's only for StdinOnce without a tty.
    detachOnStdinEnd: c.config.tty || !c.config.stdinOnce,
  };
  const conn = hijack(req, res, c.config.tty ? RAW_STREAM : MULTIPLEXED_STREAM);
  const joined = joinStreams(conn, choice);
  try {
    if (logs && svc.readLogs !== undefined) {
      const past = await svc.readLogs(c.id, { follow: false });
      past.close();
      for (const e of past.backlog) {
        if (e.stream === 'stdout' && choice.stdout) joined.out.write(e.data);
        if (e.stream === 'stderr' && choice.stderr) joined.err.write(e.data);
      }
    }
    if (!stream) {
      conn.end();
      return;
    }
    const attachment = await svc.attach(c.id, joined.stdio);
    events.container('attach', eventSubject(c));
    joined.hold(attachment);
    attachment.exitCode.then(
      () => conn.end(),
      (err: unknown) => {
        joined.writeError(err instanceof Error ? err.message : String(err));
        conn.end();
      },
    );
  } catch (err) {
    // The status line is gone: report in band, as dockerd does after hijacking.
    joined.writeError(err instanceof Error ? err.message : String(err));
    conn.end();
  }
}

/** Splits chunks into lines (the unit of `tail` and of timestamps), keeping the newlines. */
export function logLines(entries: readonly ContainerLogEntry[]): ContainerLogEntry[] {
  const out: ContainerLogEntry[] = [];
  for (const e of entries) {
    let at = 0;
    while (at < e.data.length) {
      const nl = e.data.indexOf(10, at);
      const end = nl < 0 ? e.data.length : nl + 1;
      out.push({ stream: e.stream, time: e.time, data: e.data.subarray(at, end) });
      at = end;
    }
  }
  return out;
}

export interface LogSelection {
  readonly stdout: boolean;
  readonly stderr: boolean;
  readonly since?: Date;
  readonly until?: Date;
  /** Last N lines; undefined for all. */
  readonly tail?: number;
}

export function selectLogLines(entries: readonly ContainerLogEntry[], s: LogSelection): ContainerLogEntry[] {
  const lines = logLines(entries).filter(
    (e) =>
      (e.stream === 'stdout' ? s.stdout : s.stderr) &&
      (s.since === undefined || e.time.getTime() >= s.since.getTime()) &&
      (s.until === undefined || e.time.getTime() <= s.until.getTime()),
  );
  return s.tail === undefined ? lines : s.tail === 0 ? [] : lines.slice(-s.tail);
}

function parseTail(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '' || raw === 'all') return undefined;
  if (!/^[0-9]+$/.test(raw)) throw new InvalidParameterError(`invalid value for tail: ${JSON.stringify(raw)}`);
  return Number.parseInt(raw, 10);
}

function logTime(req: Request, name: string): Date | undefined {
  const raw = queryString(req, name);
  if (raw === undefined || raw === '' || raw === '0') return undefined;
  return parseTimestamp(raw);
}

async function logsRoute(svc: ContainerService, req: Request, res: Response): Promise<void> {
  const selection: LogSelection = {
    stdout: queryBool(req, 'stdout'),
    stderr: queryBool(req, 'stderr'),
    ...(logTime(req, 'since') !== undefined ? { since: logTime(req, 'since') } : {}),
    ...(logTime(req, 'until') !== undefined ? { until: logTime(req, 'until') } : {}),
    ...(parseTail(queryString(req, 'tail')) !== undefined ? { tail: parseTail(queryString(req, 'tail')) } : {}),
  };
  if (!selection.stdout && !selection.stderr)
    throw new InvalidParameterError('Bad parameters: you must choose at least one stream');
  const follow = queryBool(req, 'follow');
  const timestamps = queryBool(req, 'timestamps');
  const c = await svc.inspect(String(req.params.id));
  const logsOf = optional(svc.readLogs, 'docker logs').bind(svc);
  const tty = c.config.tty;
  const write = (e: ContainerLogEntry): void => {
    const payload = timestamps ? Buffer.concat([Buffer.from(`${e.time.toISOString()} `), e.data]) : e.data;
    res.write(tty ? payload : frame(e.stream === 'stdout' ? 1 : 2, payload));
  };
  const queued: ContainerLogEntry[] = [];
  let live = false;
  const logs = await logsOf(c.id, {
    follow,
    onEntry: (entry) => {
      for (const line of selectLogLines([entry], { ...selection, tail: undefined, since: undefined })) {
        if (selection.until !== undefined && line.time > selection.until) continue;
        if (live) write(line);
        else queued.push(line);
      }
    },
  });
  res.writeHead(200, { 'Content-Type': tty ? RAW_STREAM : MULTIPLEXED_STREAM });
  res.flushHeaders();
  for (const line of selectLogLines(logs.backlog, selection)) write(line);
  for (const line of queued) write(line);
  live = true;
  res.on('close', () => logs.close());
  await logs.ended;
  res.end();
}

async function statsRoute(svc: ContainerService, req: Request, res: Response): Promise<void> {
  const c = await svc.inspect(String(req.params.id));
  const statsOf = optional(svc.stats, 'docker stats').bind(svc);
  const stream = queryString(req, 'stream') === undefined ? true : queryBool(req, 'stream');
  const oneShot = queryBool(req, 'one-shot');
  if (!stream) {
    let before: ContainerStatsSample | undefined;
    if (!oneShot && c.state.running) {
      // A second sample so the CLI can compute CPU % from the difference, as dockerd does.
      before = await statsOf(c.id);
      await new Promise((r) => setTimeout(r, 500));
    }
    sendJson(res, 200, toDockerStats(c, await statsOf(c.id), before));
    return;
  }
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.flushHeaders();
  let before: ContainerStatsSample | undefined;
  let closed = false;
  res.on('close', () => {
    closed = true;
  });
  while (!closed) {
    let now: ContainerStatsSample;
    try {
      now = await statsOf(c.id);
    } catch {
      break; // removed while watched
    }
    res.write(`${JSON.stringify(toDockerStats(c, now, before))}\n`);
    before = now;
    await new Promise((r) => setTimeout(r, 1000));
  }
  res.end();
}

/** `/containers/prune` filters: `label`, `label!`, `until`. */
function prunable(filters: FilterArgs): (c: { created: Date; labels: Readonly<Record<string, string>> }) => boolean {
  filters.validate(['label', 'label!', 'until']);
  const until = filters.get('until').map((u) => parseTimestamp(u));
  return (c) =>
    matchesLabels(filters.get('label'), c.labels) &&
    (filters.get('label!').length === 0 || !matchesLabels(filters.get('label!'), c.labels)) &&
    until.every((u) => c.created.getTime() < u.getTime());
}

export function containerRoutes(deps: ContainerRouteDeps): Router {
  const router = Router();
  const svc = (): ContainerService => requireContainers(deps.containers);
  const { events } = deps;
  const id = (req: Request): string => String(req.params.id);

  router.post('/containers/create', async (req, res) => {
    const rawName = queryString(req, 'name');
    const name = rawName === undefined || rawName === '' ? undefined : validateContainerName(rawName);
    const spec = parseCreateBody(req.body, name);
    const result = await svc().create(spec);
    const c = await svc().inspect(result.id);
    events.container('create', eventSubject(c));
    sendJson(res, 201, { Id: result.id, Warnings: result.warnings });
  });

  router.get('/containers/json', async (req, res) => {
    const filters = parseFilters(queryString(req, 'filters'));
    const limit = queryInt(req, 'limit') ?? -1;
    const all = await svc().list({ all: true });
    const selected = selectContainers(all, { all: queryBool(req, 'all'), limit, filters });
    const now = new Date();
    sendJson(
      res,
      200,
      selected.map((c) => toDockerContainerSummary(c, queryBool(req, 'size'), now)),
    );
  });

  router.post('/containers/prune', async (req, res) => {
    const select = prunable(parseFilters(queryString(req, 'filters')));
    const deleted: string[] = [];
    for (const c of await svc().list({ all: true })) {
      if (c.state.running || !select(c)) continue;
      try {
        await svc().remove(c.id);
      } catch (err) {
        if (err instanceof NotFoundError) continue; // gone meanwhile
        throw err;
      }
      deleted.push(c.id);
    }
    sendJson(res, 200, { ContainersDeleted: deleted.length === 0 ? null : deleted, SpaceReclaimed: 0 });
  });

  router.get('/containers/:id/json', async (req, res) => {
    const c = await svc().inspect(id(req));
    const body = toDockerContainerInspect(c, queryBool(req, 'size'));
    const execIds = deps.execs.ofContainer(c.id);
    sendJson(res, 200, { ...body, ExecIDs: execIds.length === 0 ? null : execIds });
  });

  router.get('/containers/:id/top', async (req, res) => {
    const c = await svc().inspect(id(req));
    if (!c.state.running) throw notRunning(c.id);
    const top = await optional(svc().top, 'docker top').call(svc(), c.id, queryString(req, 'ps_args') || undefined);
    sendJson(res, 200, { Titles: top.titles, Processes: top.processes });
  });

  router.get('/containers/:id/logs', (req, res) => logsRoute(svc(), req, res));
  router.get('/containers/:id/stats', (req, res) => statsRoute(svc(), req, res));

  router.post('/containers/:id/start', async (req, res) => {
    if (queryString(req, 'checkpoint') !== undefined && queryString(req, 'checkpoint') !== '')
      throw new NotImplementedError('checkpoints are not supported by this VCH');
    const started = await startContainer(svc(), id(req));
    sendEmpty(res, started ? 204 : 304);
  });

  router.post('/containers/:id/stop', async (req, res) => {
    const timeout = stopTimeout(req);
    const rawSignal = queryString(req, 'signal');
    const signal = rawSignal === undefined || rawSignal === '' ? undefined : parseSignal(rawSignal);
    const c = await svc().inspect(id(req));
    if (!c.state.running) {
      sendEmpty(res, 304);
      return;
    }
    await svc().stop(c.id, { ...(timeout !== undefined ? { timeout } : {}), ...(signal ? { signal } : {}) });
    events.container('stop', eventSubject(c));
    sendEmpty(res, 204);
  });

  router.post('/containers/:id/restart', async (req, res) => {
    const timeout = stopTimeout(req);
    const rawSignal = queryString(req, 'signal');
    const signal = rawSignal === undefined || rawSignal === '' ? undefined : parseSignal(rawSignal);
    const c = await svc().inspect(id(req));
    if (c.state.running) {
      await svc().stop(c.id, { ...(timeout !== undefined ? { timeout } : {}), ...(signal ? { signal } : {}) });
      events.container('stop', eventSubject(c));
    }
    await startContainer(svc(), c.id);
    events.container('restart', eventSubject(c));
    sendEmpty(res, 204);
  });

  router.post('/containers/:id/kill', async (req, res) => {
    const signal = parseSignal(queryString(req, 'signal') || 'SIGKILL');
    const c = await svc().inspect(id(req));
    if (!c.state.running) throw notRunning(c.id, `Cannot kill container: ${id(req)}: `);
    await svc().kill(c.id, signal);
    events.container('kill', eventSubject(c), { signal: String(signalNumber(signal)) });
    sendEmpty(res, 204);
  });

  router.post('/containers/:id/update', async (req, res) => {
    const body: unknown = req.body ?? {};
    if (!isRecord(body)) throw new InvalidParameterError('update config must be a JSON object');
    const restartPolicy = parseRestartPolicy(body.RestartPolicy);
    const resources = parseResources(body);
    const c = await svc().inspect(id(req));
    if (restartPolicy !== undefined && restartPolicy.name !== 'no' && c.hostConfig?.autoRemove)
      throw new InvalidParameterError(
        'Restart policy cannot be updated because AutoRemove is enabled for the container',
      );
    const result = await optional(svc().update, 'docker update').call(svc(), c.id, {
      ...(restartPolicy !== undefined ? { restartPolicy } : {}),
      ...(resources !== undefined ? { resources } : {}),
    });
    events.container('update', eventSubject(c));
    sendJson(res, 200, { Warnings: result.warnings });
  });

  router.post('/containers/:id/rename', async (req, res) => {
    const raw = queryString(req, 'name');
    if (raw === undefined || raw === '') throw new InvalidParameterError('Neither old nor new names may be empty');
    const newName = validateContainerName(raw);
    const c = await svc().inspect(id(req));
    await optional(svc().rename, 'docker rename').call(svc(), c.id, newName);
    events.container('rename', { ...eventSubject(c), name: newName }, { oldName: c.name });
    sendEmpty(res, 204);
  });

  router.post('/containers/:id/resize', async (req, res) => {
    const { rows, cols } = terminalSize(req);
    await svc().resize(id(req), rows, cols);
    sendEmpty(res, 200);
  });

  router.post('/containers/:id/attach', (req, res) => attachRoute(svc(), events, req, res));
  router.post('/containers/:id/wait', (req, res) => waitRoute(svc(), req, res));

  router.delete('/containers/:id', async (req, res) => {
    if (queryBool(req, 'link')) throw new NotImplementedError('container links are not supported by this VCH');
    const c = await svc().inspect(id(req));
    const force = queryBool(req, 'force');
    if (c.state.running && !force) {
      throw new ConflictError(
        `cannot remove container "${c.name.startsWith('/') ? c.name : `/${c.name}`}": container is running: stop the container before removing or force remove`,
      );
    }
    await svc().remove(c.id, { force });
    if (c.state.running) events.container('kill', eventSubject(c), { signal: '9' });
    sendEmpty(res, 204);
  });

  router.get('/system/df', async (_req, res) => {
    const [images, containers] = await Promise.all([
      deps.images.list(),
      deps.containers !== undefined ? deps.containers.list({ all: true }) : Promise.resolve([]),
    ]);
    sendJson(res, 200, {
      LayersSize: images.reduce((n, i) => n + i.size, 0),
      Images: images.map((i) => toDockerImageSummary(i, res.locals.apiVersion)),
      Containers: containers.map((c) => toDockerContainerSummary(c, true)),
      Volumes: [],
      BuildCache: [],
    });
  });

  return router;
}

/** 409 `Container x is not running`, dockerd's text for top/kill on a stopped container. */
function notRunning(containerId: string, prefix = ''): ConflictError {
  return new ConflictError(`${prefix}Container ${containerId} is not running`);
}
