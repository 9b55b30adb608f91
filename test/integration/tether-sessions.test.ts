import { randomBytes } from 'node:crypto';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { MainSession } from '../../src/portlayer/execution/main-session';
import { Tethers } from '../../src/portlayer/execution/tethers';
import { SessionStartError } from '../../src/portlayer/interaction/session';
import { FrameConnection } from '../../src/tether/protocol/connection';
import { FrameType } from '../../src/tether/protocol/frames';
import { encodeJson, PROTOCOL_VERSION } from '../../src/tether/protocol/messages';
import { runTether } from '../../src/tether/tether';
import { buildTether, collect, type HostTether, TetherHarness } from './tether-harness';

jest.setTimeout(30_000);

let harness: TetherHarness;
const tethers: HostTether[] = [];

beforeAll(async () => {
  harness = new TetherHarness(buildTether());
  await harness.start();
});

afterAll(async () => {
  for (const t of tethers) await t.stop();
  await harness.close();
});

async function tether(argv: string[], extra: { tty?: boolean } = {}): Promise<HostTether> {
  const t = await harness.tether({ argv, ...extra });
  tethers.push(t);
  return t;
}

describe('main process through attach', () => {
  test('echo hello → "hello", exit 0', async () => {
    const { client } = await tether(['echo', 'hello']);
    const s = await client.attach();
    s.stdin.end();
    const [out, err] = await Promise.all([collect(s.stdout), collect(s.stderr)]);
    expect(out.toString()).toBe('hello\n');
    expect(err.toString()).toBe('');
    await expect(s.exitCode).resolves.toBe(0);
  });

  test("sh -c 'exit 3' → 3", async () => {
    const { client } = await tether(['sh', '-c', 'echo oops >&2; exit 3']);
    const s = await client.attach();
    const err = await collect(s.stderr);
    expect(err.toString()).toBe('oops\n');
    await expect(s.exitCode).resolves.toBe(3);
  });

  test('sleep 100 sent SIGTERM → 143', async () => {
    const { client } = await tether(['sleep', '100']);
    const s = await client.attach();
    s.signal('TERM');
    await expect(s.exit).resolves.toEqual({ exitCode: 143, signal: 'SIGTERM' });
  });

  test('a missing executable: Docker’s message and 127', async () => {
    const { client, child } = await tether(['no-such-command-here', 'x']);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const attempt = client.attach();
    await expect(attempt).rejects.toBeInstanceOf(SessionStartError);
    await expect(attempt).rejects.toMatchObject({
      message: 'exec: "no-such-command-here": executable file not found in $PATH',
      exitCode: 127,
    });
    await expect(exited).resolves.toBe(127); // the tether reports the container's exit
  });

  test('an exec while the main process runs', async () => {
    const { client } = await tether(['sleep', '100']);
    const main = await client.attach();
    const s = await client.exec({
      argv: ['sh', '-c', 'echo "$FOO" in $(pwd) as $(id -u):$(id -g)'],
      env: ['FOO=bar'],
      cwd: '/tmp',
      user: 'nobody',
    });
    expect((await collect(s.stdout)).toString()).toBe('bar in /tmp as 65534:65534\n');
    await expect(s.exitCode).resolves.toBe(0);
    main.signal('KILL');
    await expect(main.exitCode).resolves.toBe(137);
  });
});

describe('exec sessions', () => {
  let t: HostTether;
  beforeAll(async () => {
    t = await tether(['sleep', '1000']);
    await t.client.attach(); // starts the main process
  });

  test('stdin round trip through cat, with half-close', async () => {
    const s = await t.client.exec({ argv: ['cat'] });
    const out = collect(s.stdout);
    s.stdin.end('ping\n');
    expect((await out).toString()).toBe('ping\n');
    await expect(s.exitCode).resolves.toBe(0);
  });

  test('1 MB through cat, byte for byte', async () => {
    const data = randomBytes(1024 * 1024);
    const s = await t.client.exec({ argv: ['cat'] });
    const out = collect(s.stdout);
    s.stdin.end(data);
    const got = await out;
    expect(got.length).toBe(data.length);
    expect(got.equals(data)).toBe(true);
    await expect(s.exitCode).resolves.toBe(0);
  });

  test('tty: stty size sees the resize', async () => {
    const s = await t.client.exec({
      argv: ['sh', '-c', 'stty size; read x; stty size'],
      tty: true,
      rows: 24,
      cols: 80,
    });
    expect(s.tty).toBe(true);
    let text = '';
    s.stdout.on('data', (d: Buffer) => {
      text += d.toString();
    });
    await waitUntil(() => text.includes('24 80'));
    s.resize(50, 132);
    s.stdin.write('\n');
    await expect(s.exitCode).resolves.toBe(0);
    expect(text).toMatch(/24 80\r\n[\s\S]*50 132\r\n/);
  });

  test('tty: a signal ends the process with 128+n', async () => {
    const s = await t.client.exec({ argv: ['sleep', '100'], tty: true });
    s.signal('SIGINT');
    await expect(s.exitCode).resolves.toBe(130);
  });

  test('exec of a missing executable, with and without a tty', async () => {
    for (const tty of [false, true]) {
      await expect(t.client.exec({ argv: ['foo'], tty })).rejects.toMatchObject({
        message: 'exec: "foo": executable file not found in $PATH',
        exitCode: 127,
      });
    }
  });

  test('10 sessions at once', async () => {
    const sessions = await Promise.all(
      Array.from({ length: 10 }, (_, i) => t.client.exec({ argv: ['sh', '-c', `cat; exit ${i}`] })),
    );
    const outs = sessions.map((s) => collect(s.stdout));
    for (const [i, s] of sessions.entries()) s.stdin.end(`session ${i}\n`.repeat(1000));
    const texts = await Promise.all(outs);
    expect(texts.map((b) => b.toString())).toEqual(sessions.map((_, i) => `session ${i}\n`.repeat(1000)));
    await expect(Promise.all(sessions.map((s) => s.exitCode))).resolves.toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

describe('the end of the main process', () => {
  /**
   * runTether in this process over a unix socket whose far end is played frame by frame:
   * the test decides when (and whether) the VCH's Close answers the main session's Exit.
   */
  async function mainExitWith(
    ackDelayMs: number | undefined,
  ): Promise<{ exitAt: number; ackAt: number; doneAt: number }> {
    const sock = join(harness.dir, `raw-${randomBytes(4).toString('hex')}.sock`);
    const times = { exitAt: 0, ackAt: 0, doneAt: 0 };
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      const conn = new FrameConnection(socket);
      conn.onFrame((f) => {
        if (f.type === FrameType.Hello) {
          conn.send(FrameType.HelloAck, 0, encodeJson({ protocol: PROTOCOL_VERSION }));
          conn.send(FrameType.Open, 1, encodeJson({ kind: 'attach', window: 1 << 20 }));
        }
        if (f.type === FrameType.Exit) times.exitAt = Date.now();
        if (f.type === FrameType.Close && ackDelayMs !== undefined) {
          setTimeout(() => {
            times.ackAt = Date.now();
            conn.send(FrameType.Close, 1);
          }, ackDelayMs);
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    try {
      const spec = { read: async () => ({ vmId: 'raw', process: { argv: ['sh', '-c', 'sleep 0.3; echo done'] } }) };
      await runTether({
        spec,
        transport: () =>
          new Promise((resolve, reject) => {
            const c = connect(sock, () => resolve(c));
            c.once('error', reject);
          }),
        rootDir: '/',
        helperPath: join(harness.dir, 'tether-helper'),
      });
      times.doneAt = Date.now();
      return times;
    } finally {
      // The tether's connection ends with the server's side of it.
      for (const socket of sockets) socket.destroy();
      server.close();
    }
  }

  test('the tether waits for the VCH to answer the Exit before it goes', async () => {
    const t = await mainExitWith(400);
    expect(t.exitAt).toBeGreaterThan(0);
    expect(t.ackAt).toBeGreaterThan(0);
    expect(t.doneAt).toBeGreaterThanOrEqual(t.ackAt);
  });

  test('a VCH that never answers holds the tether for a bounded time only', async () => {
    const t = await mainExitWith(undefined);
    expect(t.exitAt).toBeGreaterThan(0);
    expect(t.doneAt - t.exitAt).toBeGreaterThanOrEqual(2900);
    expect(t.doneAt - t.exitAt).toBeLessThan(6000);
  });
});

describe('a lost backchannel', () => {
  test("the VM's recorded exit releases the clients of an attach whose Exit never came", async () => {
    const tethers = new Tethers(harness.attachServer); // before the tether dials in
    const t = await tether(['sh', '-c', 'echo before; sleep 100']);
    const session = new MainSession({
      id: t.client.hello.containerId ?? t.client.vmId,
      tty: false,
      openStdin: false,
      stdinOnce: false,
      tethers,
      connectTimeoutMs: 2000,
    });
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => {
      text += d.toString();
    });
    const attachment = session.attach({ stdout: out });
    await session.open();
    await waitUntil(() => text === 'before\n');
    // The VM goes before its Exit left it (a power-off under a loaded host).
    await t.stop();
    await waitUntil(() => t.client.closed);
    session.exitedInVm(0);
    await expect(attachment.exitCode).resolves.toBe(0);
  });
});

async function waitUntil(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
