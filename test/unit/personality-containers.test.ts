/**
 * The container routes' pure parts (names, stdcopy, create-body parsing, ps filters,
 * shapes, log selection) and their HTTP answers to bad input over the fake port layer.
 */

import { once } from 'node:events';
import http from 'node:http';
import type { Socket } from 'node:net';
import pino from 'pino';
import { createPersonality, type ListeningPersonality } from '../../src/personality';
import { selectContainers } from '../../src/personality/containers/container-filters';
import { parseCreateBody } from '../../src/personality/containers/create-spec';
import { toDockerContainerInspect } from '../../src/personality/containers/docker-shapes';
import { validateContainerName } from '../../src/personality/containers/names';
import { parseSignal } from '../../src/personality/containers/signals';
import { demux, frame } from '../../src/personality/containers/stdcopy';
import { parseFilters } from '../../src/personality/filters';
import { selectLogLines } from '../../src/personality/routes/containers';
import type { ContainerSummary } from '../../src/portlayer/api';
import { createFakePortLayer, type FakeContainerService } from '../helpers/fakePortLayer';

describe('pure parts', () => {
  it('validates names as dockerd does', () => {
    expect(validateContainerName('/web-1')).toBe('web-1');
    expect(validateContainerName('a.b_c')).toBe('a.b_c');
    for (const bad of ['a', '-x', 'has space', 'x/y', '']) {
      expect(() => validateContainerName(bad)).toThrow(`Invalid container name (${bad})`);
    }
  });

  it('frames and unframes stdcopy', () => {
    const f = frame(2, Buffer.from('err'));
    expect([...f.subarray(0, 8)]).toEqual([2, 0, 0, 0, 0, 0, 0, 3]);
    const both = Buffer.concat([frame(1, Buffer.from('out')), f]);
    expect(demux(both).map((x) => [x.stream, x.payload.toString()])).toEqual([
      [1, 'out'],
      [2, 'err'],
    ]);
    expect(frame(1, Buffer.alloc(0)).length).toBe(0);
    expect(demux(frame(1, Buffer.alloc(70_000))).length).toBe(3);
    expect(() => demux(Buffer.from([1, 0, 0, 0, 0, 0, 0, 9, 1]))).toThrow('truncated payload');
  });

  it('parses signals by name and number', () => {
    expect(parseSignal('KILL')).toBe('SIGKILL');
    expect(parseSignal('sigterm')).toBe('SIGTERM');
    expect(parseSignal('2')).toBe('SIGINT');
    expect(() => parseSignal('NOPE')).toThrow('Invalid signal: NOPE');
    expect(() => parseSignal('999')).toThrow('Invalid signal: 999');
  });

  it('maps the create body to the spec and refuses bad values', () => {
    const spec = parseCreateBody(
      {
        Image: 'busybox',
        Cmd: ['echo', 'hi'],
        Env: ['A=1'],
        Tty: true,
        Labels: { a: 'b' },
        StopSignal: 'SIGINT',
        StopTimeout: 3,
        HostConfig: {
          AutoRemove: false,
          RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 2 },
          NanoCpus: 1_500_000_000,
          Memory: 64 * 2 ** 20,
        },
      },
      'web',
    );
    expect(spec).toMatchObject({
      image: 'busybox',
      name: 'web',
      cmd: ['echo', 'hi'],
      env: ['A=1'],
      tty: true,
      labels: { a: 'b' },
      stopSignal: 'SIGINT',
      stopTimeout: 3,
      restartPolicy: { name: 'on-failure', maximumRetryCount: 2 },
      resources: { nanoCpus: 1_500_000_000, memoryBytes: 64 * 2 ** 20 },
    });
    expect(
      parseCreateBody({ Image: 'x', HostConfig: { RestartPolicy: { Name: '' } } }, undefined).restartPolicy,
    ).toEqual({ name: 'no' });
    expect(() =>
      parseCreateBody({ Image: 'x', HostConfig: { RestartPolicy: { Name: 'sometimes' } } }, undefined),
    ).toThrow("unknown policy 'sometimes'");
    expect(() =>
      parseCreateBody(
        { Image: 'x', HostConfig: { RestartPolicy: { Name: 'always', MaximumRetryCount: 2 } } },
        undefined,
      ),
    ).toThrow("only be used with 'on-failure'");
    expect(() =>
      parseCreateBody({ Image: 'x', HostConfig: { AutoRemove: true, RestartPolicy: { Name: 'always' } } }, undefined),
    ).toThrow("can't create 'AutoRemove' container with restart policy");
    expect(() => parseCreateBody({ Image: 'x', Cmd: 5 }, undefined)).toThrow('Cmd must be a list of strings');
    expect(() => parseCreateBody({ Image: 'x', StopSignal: 'BOGUS' }, undefined)).toThrow('Invalid signal');
    expect(() => parseCreateBody({ Image: 'x', StopTimeout: -5 }, undefined)).toThrow('StopTimeout');
    expect(() => parseCreateBody({ Image: 'x', HostConfig: { Memory: 1000 } }, undefined)).toThrow('Minimum memory');
    expect(() => parseCreateBody({}, undefined)).toThrow('config cannot be empty');
    expect(() => parseCreateBody({ Cmd: ['x'] }, undefined)).toThrow('no image specified');
    expect(parseCreateBody({ Image: 'x', Hostname: 'h'.repeat(64), Domainname: 'a;b' }, undefined)).toMatchObject({
      hostname: 'h'.repeat(64),
      domainname: 'a;b',
    });
    expect(() => parseCreateBody({ Image: 'x', Hostname: 'h'.repeat(65) }, undefined)).toThrow(
      'at most 64 bytes, no NUL',
    );
    expect(() => parseCreateBody({ Image: 'x', Domainname: 'a\u0000b' }, undefined)).toThrow('invalid Domainname');
  });

  const summary = (
    name: string,
    status: 'running' | 'exited',
    exitCode: number,
    labels: Record<string, string>,
    t: number,
  ): ContainerSummary => ({
    id: `${name.padEnd(4, '0').slice(0, 4)}${'0'.repeat(60)}`.replace(/[^a-f0-9]/g, 'a'),
    name: `/${name}`,
    image: 'busybox',
    imageId: 'sha256:abcd',
    command: 'sh',
    created: new Date(t),
    state: { status, running: status === 'running', pid: 0, exitCode, error: '' },
    labels,
  });

  it('selects containers for docker ps', () => {
    const all = [
      summary('web', 'running', 0, { app: 'x', tier: 'front' }, 3),
      summary('db', 'exited', 1, { app: 'x' }, 2),
      summary('job', 'exited', 0, {}, 1),
    ];
    const names = (o: { all?: boolean; limit?: number; filters?: string }) =>
      selectContainers(all, { all: o.all ?? false, limit: o.limit ?? -1, filters: parseFilters(o.filters) }).map(
        (c) => c.name,
      );
    expect(names({})).toEqual(['/web']);
    expect(names({ all: true })).toEqual(['/web', '/db', '/job']);
    expect(names({ limit: 2 })).toEqual(['/web', '/db']);
    expect(names({ all: true, filters: '{"label":{"app=x":true,"tier=front":true}}' })).toEqual(['/web']);
    expect(names({ filters: '{"status":["exited"]}' })).toEqual(['/db', '/job']);
    expect(names({ filters: '{"exited":["1"]}' })).toEqual(['/db']);
    expect(names({ all: true, filters: '{"name":["^j"]}' })).toEqual(['/job']);
    expect(names({ all: true, filters: '{"ancestor":["busybox:latest"]}' })).toHaveLength(3);
    expect(() => names({ filters: '{"status":["sleeping"]}' })).toThrow("invalid filter 'status=sleeping'");
    expect(() => names({ filters: '{"colour":["red"]}' })).toThrow("invalid filter 'colour'");
  });

  it('selects log lines by stream, time and tail', () => {
    const t = (s: number) => new Date(1_700_000_000_000 + s * 1000);
    const entries = [
      { stream: 'stdout' as const, time: t(1), data: Buffer.from('a\nb\n') },
      { stream: 'stderr' as const, time: t(2), data: Buffer.from('e\n') },
      { stream: 'stdout' as const, time: t(3), data: Buffer.from('c') },
    ];
    const text = (s: Parameters<typeof selectLogLines>[1]) =>
      selectLogLines(entries, s)
        .map((e) => e.data.toString())
        .join('');
    expect(text({ stdout: true, stderr: true })).toBe('a\nb\ne\nc');
    expect(text({ stdout: true, stderr: false, tail: 2 })).toBe('b\nc');
    expect(text({ stdout: true, stderr: true, since: t(2) })).toBe('e\nc');
    expect(text({ stdout: true, stderr: true, until: t(1) })).toBe('a\nb\n');
    expect(text({ stdout: true, stderr: true, tail: 0 })).toBe('');
  });

  it('shapes inspect with every state field and zero times', () => {
    const s = summary('web', 'running', 0, {}, 1);
    const body = toDockerContainerInspect(
      {
        ...s,
        state: { ...s.state, status: 'created', running: false },
        path: 'sh',
        args: ['-c', 'x'],
        config: {
          image: 'busybox',
          imageId: 'sha256:abcd',
          hostname: 'h',
          domainname: '',
          user: '',
          env: [],
          cmd: ['sh'],
          entrypoint: [],
          workingDir: '',
          tty: false,
          openStdin: false,
          stdinOnce: false,
          labels: {},
        },
        vm: { name: 'web-x', moref: 'vm-1' },
      },
      false,
    );
    expect(body).toMatchObject({
      Name: '/web',
      Path: 'sh',
      Args: ['-c', 'x'],
      RestartCount: 0,
      State: {
        Status: 'created',
        Running: false,
        Paused: false,
        Restarting: false,
        OOMKilled: false,
        Dead: false,
        StartedAt: '0001-01-01T00:00:00Z',
      },
      Config: { Entrypoint: null, Cmd: ['sh'] },
      HostConfig: { RestartPolicy: { Name: 'no', MaximumRetryCount: 0 }, AutoRemove: false },
    });
  });
});

describe('HTTP', () => {
  let server: ListeningPersonality;
  let base: string;
  let containers: FakeContainerService;

  beforeEach(async () => {
    const pl = createFakePortLayer();
    pl.images.seed({ reference: 'busybox:latest', layerSizes: [10] });
    containers = pl.containers;
    server = await createPersonality({ ...pl, logger: pino({ level: 'silent' }) }).listen({ port: 0 });
    base = server.address.replace('tcp://', 'http://');
  });

  afterEach(async () => {
    containers.shutdown();
    await server.close();
  });

  const post = (path: string, body?: string) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      ...(body !== undefined ? { body, headers: { 'Content-Type': 'application/json' } } : {}),
    });

  async function expectError(res: Response, status: number, text: string): Promise<void> {
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(((await res.json()) as { message: string }).message).toContain(text);
  }

  it('answers bad input with 4xx and keeps serving', async () => {
    await expectError(await post('/containers/create', '{"Image":'), 400, 'invalid JSON');
    await expectError(
      await post('/containers/create?name=a', '{"Image":"busybox"}'),
      400,
      'Invalid container name (a)',
    );
    await expectError(
      await post('/containers/create', '{"Image":"busybox","HostConfig":{"RestartPolicy":{"Name":"maybe"}}}'),
      400,
      "unknown policy 'maybe'",
    );
    await expectError(await post('/containers/create', '{"Image":"nosuch"}'), 404, 'No such image: nosuch:latest');
    await expectError(await post('/containers/nope/start'), 404, 'No such container: nope');
    await expectError(await post('/containers/nope/wait'), 404, 'No such container: nope');
    await expectError(await post('/exec/nope/start', '{}'), 404, 'No such exec instance: nope');
    const created = await post('/containers/create?name=web', '{"Image":"busybox","Cmd":["sleep","30"]}');
    expect(created.status).toBe(201);
    await expectError(await post('/containers/web/stop?t=-5'), 400, 'invalid value for t');
    await expectError(await post('/containers/web/kill?signal=BOGUS'), 400, 'Invalid signal: BOGUS');
    await expectError(await post('/containers/web/wait?condition=sometime'), 400, 'invalid condition');
    await expectError(await post('/containers/web/resize?h=x&w=1'), 400, 'invalid value for h');
    await expectError(await post('/containers/create?name=web', '{"Image":"busybox"}'), 409, 'is already in use');
    await expectError(await post('/containers/web/exec', '{"Cmd":[]}'), 400, 'No exec command specified');
    await expectError(await post('/containers/web/exec', '{"Cmd":["true"]}'), 409, 'is not running');
    await expectError(
      await fetch(`${base}/containers/json?filters=%7B%22bogus%22%3A%5B%5D%7D`),
      400,
      "invalid filter 'bogus'",
    );
    const list = await fetch(`${base}/containers/json?all=1`);
    expect(list.status).toBe(200);
    expect(((await list.json()) as { Names: string[] }[])[0]!.Names).toEqual(['/web']);
  });

  it('flushes wait headers at once and sends the body at exit', async () => {
    const created = (await (
      await post('/containers/create', '{"Image":"busybox","Cmd":["sh","-c","sleep 0.3; exit 7"]}')
    ).json()) as {
      Id: string;
    };
    const status = await new Promise<{ headersAt: number; body: string; endAt: number }>((resolve, reject) => {
      const started = Date.now();
      const req = http.request(
        `${base}/containers/${created.Id.slice(0, 10)}/wait?condition=next-exit`,
        { method: 'POST' },
        (res) => {
          const headersAt = Date.now() - started;
          void post(`/containers/${created.Id}/start`);
          let body = '';
          res.on('data', (d: Buffer) => {
            body += d.toString();
          });
          res.on('end', () => resolve({ headersAt, body, endAt: Date.now() - started }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(status.headersAt).toBeLessThan(200);
    expect(status.endAt).toBeGreaterThanOrEqual(300);
    expect(JSON.parse(status.body)).toEqual({ StatusCode: 7, Error: null });
  });

  it('the detach keys, or the end of its input, end a tty attach and leave the process its stdin; unreadable keys are a 400', async () => {
    const { Id } = (await (
      await post('/containers/create', '{"Image":"busybox","Cmd":["cat"],"Tty":true,"OpenStdin":true,"StdinOnce":true}')
    ).json()) as { Id: string };
    await expectError(
      await post(`/containers/${Id}/attach?stream=1&stdin=1&stdout=1&detachKeys=alt-x`),
      400,
      'Invalid detach keys (alt-x) provided',
    );
    /** A hijacked attach (as the CLI makes it) and what it has received so far. */
    const attach = () =>
      new Promise<{ socket: Socket; seen: () => string }>((resolve, reject) => {
        const req = http.request(`${base}/containers/${Id}/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-x,x`, {
          method: 'POST',
          headers: { Connection: 'Upgrade', Upgrade: 'tcp' },
        });
        req.on('upgrade', (_res, socket: Socket) => {
          let text = '';
          socket.on('data', (d: Buffer) => {
            text += d.toString('latin1');
          });
          resolve({ socket, seen: () => text });
        });
        req.on('error', reject);
        req.end();
      });
    const until = async (what: () => boolean): Promise<void> => {
      for (let i = 0; i < 200 && !what(); i++) await new Promise((r) => setTimeout(r, 10));
      expect(what()).toBe(true);
    };

    const first = await attach();
    await post(`/containers/${Id}/start`);
    first.socket.write('one\n');
    await until(() => /one\r?\n/.test(first.seen())); // a pty echoes it, and cat too
    const ended = once(first.socket, 'end');
    first.socket.write('\x18x');
    await ended; // the VCH ended this attach
    expect(
      ((await (await fetch(`${base}/containers/${Id}/json`)).json()) as { State: { Running: boolean } }).State.Running,
    ).toBe(true);

    // The process still reads its stdin: a new attach talks to the same cat.
    const second = await attach();
    second.socket.write('two\n');
    await until(() => /two\r?\n/.test(second.seen()));
    expect(first.seen() + second.seen()).not.toContain('\x18');
    // With a tty, a client's end of input ends its attach only (dockerd's rule): cat still reads.
    const secondEnded = once(second.socket, 'end');
    second.socket.end();
    await secondEnded;
    const third = await attach();
    third.socket.write('three\n');
    await until(() => /three\r?\n/.test(third.seen()));
    third.socket.destroy();
  });

  it('streams attach without an Upgrade header as a 200 with stdcopy frames', async () => {
    const { Id } = (await (
      await post('/containers/create', '{"Image":"busybox","Cmd":["sh","-c","echo o; echo e >&2"]}')
    ).json()) as {
      Id: string;
    };
    const raw = await new Promise<{ status: number; type: string; body: Buffer }>((resolve, reject) => {
      const req = http.request(
        `${base}/containers/${Id}/attach?stream=1&stdout=1&stderr=1`,
        { method: 'POST' },
        (res) => {
          void post(`/containers/${Id}/start`);
          const parts: Buffer[] = [];
          res.on('data', (d: Buffer) => parts.push(d));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              type: String(res.headers['content-type']),
              body: Buffer.concat(parts),
            }),
          );
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(raw.status).toBe(200);
    expect(raw.type).toBe('application/vnd.docker.multiplexed-stream');
    const frames = demux(raw.body).map((f) => `${f.stream}:${f.payload.toString()}`);
    expect(frames.sort()).toEqual(['1:o\n', '2:e\n']);
  });
});
