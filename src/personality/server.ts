/**
 * The Docker Engine API server: an express app over the port layer's public interface,
 * listening on TCP and/or a unix socket.
 */

import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import express, { type Express } from 'express';
import type { Logger } from 'pino';
import type { PortLayer } from '../portlayer/api';
import { EventBus } from './containers/event-bus';
import { ExecRegistry } from './containers/exec-registry';
import { markUpgraded, readUpgradeBody } from './containers/hijack';
import { errorHandler, pageNotFound } from './errors';
import { defaultLogger, requestLogger } from './logging';
import { authRoutes } from './routes/auth';
import { containerRoutes } from './routes/containers';
import { eventRoutes } from './routes/events';
import { execRoutes } from './routes/exec';
import { imageRoutes } from './routes/images';
import { commonHeaders, systemRoutes } from './routes/system';
import { apiVersionMiddleware } from './versioning';

export interface PersonalityOptions extends PortLayer {
  readonly logger?: Logger;
  /** Largest JSON body accepted (container create specs are the big ones); default 1 MiB. */
  readonly bodyLimitBytes?: number;
  /** Named in the `Server` header. */
  readonly serverVersion?: string;
}

export type ListenOptions =
  | { readonly host?: string; readonly port?: number; readonly socketPath?: undefined }
  | { readonly socketPath: string };

export interface ListeningPersonality {
  /** `tcp://127.0.0.1:2375` or `unix:///run/vch.sock`: what DOCKER_HOST should say. */
  readonly address: string;
  close(): Promise<void>;
}

export interface Personality {
  readonly app: Express;
  listen(options?: ListenOptions): Promise<ListeningPersonality>;
}

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 2375;

export function createApp(options: PersonalityOptions, log: Logger): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // Docker's JSON keys are case-sensitive and `/images/FOO/json` must not match `foo`.
  app.set('case sensitive routing', true);
  app.set('strict routing', false);

  app.use(requestLogger(log));
  app.use(commonHeaders(options.serverVersion ?? '0.1.0'));
  app.use(apiVersionMiddleware);
  // Only bodies declared as JSON are parsed: the CLI sends bodiless POSTs without a type,
  // and later routes (docker cp, build contexts) take tar streams.
  app.use(express.json({ limit: options.bodyLimitBytes ?? 1024 * 1024, type: 'application/json' }));

  app.use(systemRoutes(options.system));
  app.use(imageRoutes(options.images));
  app.use(authRoutes(options.auth));
  // One bus and one exec table per app: the routes and the port layer's lifecycle publish
  // events, `/events` streams them; exec instances live between create and start here.
  const events = new EventBus();
  if (options.containers) events.follow(options.containers);
  const execs = new ExecRegistry();
  app.use(containerRoutes({ containers: options.containers, images: options.images, events, execs }));
  app.use(execRoutes({ containers: options.containers, events, execs }));
  app.use(eventRoutes(events));

  app.use(pageNotFound);
  app.use(errorHandler(log));
  return app;
}

/** Removes a unix socket left by a dead server, never one a live server answers on. */
async function removeStaleSocket(path: string): Promise<void> {
  if (!fs.existsSync(path)) return;
  const alive = await new Promise<boolean>((resolve) => {
    const s = net.connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`${path} is in use by a running server`);
  fs.rmSync(path, { force: true });
}

export function createPersonality(options: PersonalityOptions): Personality {
  const log = options.logger ?? defaultLogger();
  const app = createApp(options, log);
  return {
    app,
    async listen(listenOptions: ListenOptions = {}) {
      const server = http.createServer(app);
      // Pulls and attached streams are long: no request timeout; idle keep-alives still close.
      server.requestTimeout = 0;
      server.headersTimeout = 60_000;
      // Attach and exec start ask to upgrade to raw TCP; Node gives such requests to this
      // event with the socket off the HTTP parser. They go through the app like any other, and
      // a route that hijacks writes `101` itself; any other answer closes the connection.
      server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
        socket.on('error', () => socket.destroy());
        markUpgraded(req);
        readUpgradeBody(req, socket, head, options.bodyLimitBytes ?? 1024 * 1024).then(
          (body) => {
            (req as http.IncomingMessage & { body?: unknown }).body = body;
            const res = new http.ServerResponse(req);
            res.shouldKeepAlive = false;
            res.assignSocket(socket);
            res.once('finish', () => socket.end());
            app(req, res);
          },
          (err: unknown) => {
            const message = JSON.stringify({
              message: `invalid request body: ${err instanceof Error ? err.message : err}`,
            });
            socket.end(
              `HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(message)}\r\nConnection: close\r\n\r\n${message}`,
            );
          },
        );
      });
      server.on('clientError', (_err, socket) => {
        // Malformed HTTP: answer 400 if the socket still can, never throw.
        if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
        else socket.destroy();
      });
      let address: string;
      if (listenOptions.socketPath !== undefined) {
        const socketPath = listenOptions.socketPath;
        await removeStaleSocket(socketPath);
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(socketPath, () => {
            server.off('error', reject);
            resolve();
          });
        });
        address = `unix://${socketPath}`;
      } else {
        const host = listenOptions.host ?? DEFAULT_HOST;
        const port = listenOptions.port ?? DEFAULT_PORT;
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(port, host, () => {
            server.off('error', reject);
            resolve();
          });
        });
        const bound = server.address() as net.AddressInfo;
        const shownHost = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
        address = `tcp://${shownHost}:${bound.port}`;
      }
      log.info({ address }, 'Docker API listening');
      return {
        address,
        close: () =>
          new Promise<void>((resolve, reject) => {
            server.close((err) => (err ? reject(err) : resolve()));
            // Streams (pulls, attaches) would keep close() waiting forever.
            server.closeAllConnections();
          }),
      };
    },
  };
}
