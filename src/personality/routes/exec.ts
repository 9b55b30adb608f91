/**
 * `docker exec`: `POST /containers/{id}/exec` remembers what to run, `POST /exec/{id}/start`
 * runs it over a hijacked connection (or detached), `/exec/{id}/resize` and
 * `/exec/{id}/json` follow it. The instances live in the personality's ExecRegistry; the
 * service's `exec` runs the process.
 */

import { type Request, type Response, Router } from 'express';
import { ConflictError, type ContainerService, InvalidParameterError } from '../../portlayer/api';
import { joinStreams } from '../containers/attach-stream';
import { isRecord, parseConsoleSize } from '../containers/create-spec';
import { DEFAULT_DETACH_KEYS, parseDetachKeys } from '../containers/detach-keys';
import type { EventBus } from '../containers/event-bus';
import { eventSubject } from '../containers/event-bus';
import type { ExecInstance, ExecRegistry } from '../containers/exec-registry';
import { hijack, MULTIPLEXED_STREAM, RAW_STREAM } from '../containers/hijack';
import { terminalSize } from '../containers/params';
import { sendEmpty, sendJson } from '../json-response';
import { requireContainers } from './containers';

export interface ExecRouteDeps {
  readonly containers?: ContainerService;
  readonly events: EventBus;
  readonly execs: ExecRegistry;
}

function strings(value: unknown, field: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((v): v is string => typeof v === 'string')) return value;
  throw new InvalidParameterError(`${field} must be a list of strings`);
}

function bool(value: unknown, field: string): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw new InvalidParameterError(`${field} must be a boolean`);
  return value;
}

function str(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new InvalidParameterError(`${field} must be a string`);
  return value;
}

/** `GET /exec/{id}/json`. */
export function toDockerExecInspect(i: ExecInstance): Record<string, unknown> {
  return {
    ID: i.id,
    Running: i.running,
    ExitCode: i.exitCode,
    ProcessConfig: {
      tty: i.options.tty ?? false,
      entrypoint: i.options.cmd[0] ?? '',
      arguments: i.options.cmd.slice(1),
      privileged: i.privileged,
      ...(i.options.user !== undefined ? { user: i.options.user } : {}),
    },
    OpenStdin: i.attachStdin,
    OpenStderr: i.attachStderr,
    OpenStdout: i.attachStdout,
    CanRemove: false,
    ContainerID: i.containerId,
    DetachKeys: i.detachKeys,
    Pid: i.pid,
  };
}

async function startExec(deps: ExecRouteDeps, req: Request, res: Response): Promise<void> {
  const svc = requireContainers(deps.containers);
  const instance = deps.execs.get(String(req.params.id));
  const body: unknown = req.body ?? {};
  if (!isRecord(body)) throw new InvalidParameterError('exec start config must be a JSON object');
  const detach = bool(body.Detach, 'Detach');
  const size = parseConsoleSize(body.ConsoleSize) ?? instance.size;
  if (instance.started) throw new ConflictError(`Error: Exec command ${instance.id} is already running`);
  const c = await svc.inspect(instance.containerId);
  if (!c.state.running) throw new ConflictError(`Container ${c.id} is not running`);
  instance.started = true;
  const options = { ...instance.options, ...(size !== undefined ? { size } : {}) };
  const ended = (exitCode: number): void => {
    deps.execs.ended(instance, exitCode);
    deps.events.container(`exec_die`, eventSubject(c), { execID: instance.id, exitCode: String(exitCode) });
  };
  deps.events.container(`exec_start: ${instance.options.cmd.join(' ')}`, eventSubject(c), { execID: instance.id });
  if (detach) {
    const attachment = await svc.exec(c.id, options, {});
    instance.running = true;
    instance.attachment = attachment;
    attachment.exitCode.then(ended, () => ended(126));
    sendEmpty(res, 200);
    return;
  }
  const tty = instance.options.tty ?? false;
  const conn = hijack(req, res, tty ? RAW_STREAM : MULTIPLEXED_STREAM);
  const joined = joinStreams(conn, {
    tty,
    stdin: instance.attachStdin,
    stdout: instance.attachStdout,
    stderr: instance.attachStderr,
    detachKeys: parseDetachKeys(instance.detachKeys || DEFAULT_DETACH_KEYS),
    // An exec's stdin closes with the client's, but not through a tty (dockerd's rule).
    detachOnStdinEnd: tty,
  });
  try {
    const attachment = await svc.exec(c.id, options, joined.stdio);
    instance.running = true;
    instance.attachment = attachment;
    joined.hold(attachment);
    attachment.exitCode.then(
      (code) => {
        // Recorded before the stream ends: the CLI reads ExitCode from /exec/{id}/json right after.
        ended(code);
        conn.end();
      },
      (err: unknown) => {
        ended(126);
        joined.writeError(err instanceof Error ? err.message : String(err));
        conn.end();
      },
    );
  } catch (err) {
    // `docker exec` exits 126 (cannot run) or 127 (not found) by the code it then inspects.
    const message = err instanceof Error ? err.message : String(err);
    deps.execs.ended(instance, /not found|no such file/i.test(message) ? 127 : 126);
    joined.writeError(message);
    conn.end();
  }
}

/** The exec's own detach keys as given ('' for the default), refused at create if unreadable. */
function detachKeysOf(spec: string): string {
  if (spec !== '') parseDetachKeys(spec);
  return spec;
}

export function execRoutes(deps: ExecRouteDeps): Router {
  const router = Router();

  router.post('/containers/:id/exec', async (req, res) => {
    const svc = requireContainers(deps.containers);
    const body: unknown = req.body;
    if (!isRecord(body)) throw new InvalidParameterError('exec config must be a JSON object');
    const cmd = strings(body.Cmd, 'Cmd');
    if (cmd === undefined || cmd.length === 0) throw new InvalidParameterError('No exec command specified');
    const env = strings(body.Env, 'Env');
    const user = str(body.User, 'User');
    const workingDir = str(body.WorkingDir, 'WorkingDir');
    const tty = bool(body.Tty, 'Tty');
    const size = parseConsoleSize(body.ConsoleSize);
    const c = await svc.inspect(String(req.params.id));
    if (!c.state.running) throw new ConflictError(`Container ${c.id} is not running`);
    const instance = deps.execs.add({
      containerId: c.id,
      options: {
        cmd,
        tty,
        ...(env !== undefined ? { env } : {}),
        ...(user !== undefined ? { user } : {}),
        ...(workingDir !== undefined ? { workingDir } : {}),
      },
      attachStdin: bool(body.AttachStdin, 'AttachStdin'),
      attachStdout: bool(body.AttachStdout, 'AttachStdout'),
      attachStderr: bool(body.AttachStderr, 'AttachStderr'),
      detachKeys: detachKeysOf(str(body.DetachKeys, 'DetachKeys') ?? ''),
      privileged: bool(body.Privileged, 'Privileged'),
      ...(size !== undefined ? { size } : {}),
    });
    deps.events.container(`exec_create: ${cmd.join(' ')}`, eventSubject(c), { execID: instance.id });
    sendJson(res, 201, { Id: instance.id });
  });

  router.post('/exec/:id/start', (req, res) => startExec(deps, req, res));

  router.post('/exec/:id/resize', async (req, res) => {
    const size = terminalSize(req);
    const instance = deps.execs.get(String(req.params.id));
    if (instance.attachment !== undefined) instance.attachment.resize(size.rows, size.cols);
    else instance.size = size;
    sendEmpty(res, 200);
  });

  router.get('/exec/:id/json', (req, res) => {
    sendJson(res, 200, toDockerExecInspect(deps.execs.get(String(req.params.id))));
  });

  return router;
}
