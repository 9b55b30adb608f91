/**
 * The backchannel protocol, measured on the host: `ssh2` session channels against our
 * length-prefixed framing (src/tether/protocol), both over a unix socket in one process.
 * Setup = connect to ready (ssh2: key exchange + auth; ours: hello + ack). Exec round
 * trip = open a session channel, the far end reports exit 0 at once, channel closed (no
 * process spawned, so the protocol alone is timed). Throughput = 32 MiB far end → VCH.
 * The real-process round trip (`true` through the tether's launcher) is printed for scale.
 * Last line: one JSON object with every figure.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { Client as SshClient, Server as SshServer, utils as sshUtils } from 'ssh2';
import { TetherClient } from '../src/portlayer/interaction/tether-client';
import { MainProcess } from '../src/tether/main-process';
import { createLauncher, type LaunchedProcess, type Launcher } from '../src/tether/process-launcher';
import { FrameConnection } from '../src/tether/protocol/connection';
import type { ExitStatus, ProcessSpec } from '../src/tether/protocol/messages';
import { SessionHost } from '../src/tether/session-host';

const SETUP_RUNS = 30;
const EXEC_RUNS = 300;
const BULK_BYTES = 32 * 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 0x61);

const dir = mkdtempSync(join(tmpdir(), 'bench-backchannel-'));
const sockPath = (name: string) => join(dir, `${name}.sock`);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
const round = (n: number, d = 3) => Math.round(n * 10 ** d) / 10 ** d;

/** A process double: exits 0 at once, or streams `bulk` bytes to stdout first. */
function fakeLauncher(): Launcher {
  return async (spec: ProcessSpec): Promise<LaunchedProcess> => {
    const bulk = spec.argv[0] === 'bulk';
    let exit: (s: ExitStatus) => void = () => {};
    const exited = new Promise<ExitStatus>((r) => {
      exit = r;
    });
    const stdout = bulk ? bulkStream(BULK_BYTES, () => exit({ exitCode: 0 })) : Readable.from([]);
    if (!bulk) setImmediate(() => exit({ exitCode: 0 }));
    return {
      pid: 1,
      tty: false,
      stdin: new PassThrough().resume(),
      stdout,
      stderr: Readable.from([]),
      resize: () => {},
      signal: () => {},
      exited,
    };
  };
}

function bulkStream(total: number, done: () => void): Readable {
  let sent = 0;
  return new Readable({
    read() {
      while (sent < total) {
        sent += CHUNK.length;
        if (!this.push(CHUNK)) return;
      }
      this.push(null);
      done();
    },
  });
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve) => server.listen(path, resolve));
}

function connectUnix(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect(path, () => resolve(s));
    s.once('error', reject);
  });
}

/** Ours: the tether side connects (as the VM's serial port does) and says hello. */
async function benchFraming(launcher: Launcher): Promise<{ setup: number; exec: number; mibps: number }> {
  const path = sockPath('framing');
  let accepted: (c: TetherClient) => void = () => {};
  const server = createServer((socket) => {
    TetherClient.accept(socket).then((c) => accepted(c));
  });
  await listen(server, path);
  const main = new MainProcess({ argv: ['true'] }, launcher);
  const open = async (): Promise<TetherClient> => {
    const client = new Promise<TetherClient>((r) => {
      accepted = r;
    });
    const conn = new FrameConnection(await connectUnix(path));
    await new SessionHost(conn, { vmId: 'bench', main, launcher }).handshake();
    return client;
  };

  const setups: number[] = [];
  for (let i = 0; i < SETUP_RUNS; i++) {
    const t0 = process.hrtime.bigint();
    const c = await open();
    setups.push(ms(t0));
    c.close();
  }
  const client = await open();
  const execs: number[] = [];
  for (let i = 0; i < EXEC_RUNS; i++) {
    const t0 = process.hrtime.bigint();
    const s = await client.exec({ argv: ['true'] });
    s.stdout.resume();
    s.stderr.resume();
    await s.exitCode;
    execs.push(ms(t0));
  }
  const t0 = process.hrtime.bigint();
  const s = await client.exec({ argv: ['bulk'] });
  let bytes = 0;
  s.stdout.on('data', (d: Buffer) => {
    bytes += d.length;
  });
  s.stderr.resume();
  await s.exitCode;
  const seconds = ms(t0) / 1000;
  client.close();
  server.close();
  return { setup: median(setups), exec: median(execs), mibps: bytes / 1048576 / seconds };
}

/** ssh2: the VCH as the SSH server would be (it accepts), the tether as the client. */
async function benchSsh(cipher: string | undefined): Promise<{ setup: number; exec: number; mibps: number }> {
  const path = sockPath(`ssh-${cipher ?? 'default'}`);
  const hostKey = sshUtils.generateKeyPairSync('ed25519').private;
  // Role as in DESIGN: the tether offers sessions, so it is the SSH *server*, reached over
  // a socket the VM connected; the VCH is the SSH client opening channels.
  const tetherServer = new SshServer({ hostKeys: [hostKey] }, (conn) => {
    conn.on('authentication', (ctx) => ctx.accept());
    conn.on('ready', () => {
      conn.on('session', (accept) => {
        const session = accept();
        session.on('exec', (acceptExec, _reject, info) => {
          const stream = acceptExec();
          if (info.command === 'bulk') {
            let sent = 0;
            const pump = () => {
              while (sent < BULK_BYTES) {
                sent += CHUNK.length;
                if (!stream.write(CHUNK)) return void stream.once('drain', pump);
              }
              stream.exit(0);
              stream.end();
            };
            pump();
          } else {
            stream.exit(0);
            stream.end();
          }
        });
      });
    });
  });
  await listen(tetherServer as unknown as Server, path);
  const open = (): Promise<SshClient> =>
    new Promise((resolve, reject) => {
      const c = new SshClient();
      c.once('ready', () => resolve(c)).once('error', reject);
      c.connect({
        sock: netConnect(path),
        username: 'vch',
        algorithms: cipher ? { cipher: [cipher as 'aes128-gcm@openssh.com'] } : undefined,
      });
    });
  const exec = (c: SshClient, cmd: string, onData?: (d: Buffer) => void): Promise<number> =>
    new Promise((resolve, reject) => {
      c.exec(cmd, (err, stream) => {
        if (err) return reject(err);
        let code = -1;
        stream.on('exit', (n: number) => {
          code = n;
        });
        stream.on('data', onData ?? (() => {}));
        stream.stderr.resume();
        stream.on('close', () => resolve(code));
      });
    });

  const setups: number[] = [];
  for (let i = 0; i < SETUP_RUNS; i++) {
    const t0 = process.hrtime.bigint();
    const c = await open();
    setups.push(ms(t0));
    c.end();
  }
  const client = await open();
  const execs: number[] = [];
  for (let i = 0; i < EXEC_RUNS; i++) {
    const t0 = process.hrtime.bigint();
    await exec(client, 'true');
    execs.push(ms(t0));
  }
  let bytes = 0;
  const t0 = process.hrtime.bigint();
  await exec(client, 'bulk', (d) => {
    bytes += d.length;
  });
  const seconds = ms(t0) / 1000;
  client.end();
  tetherServer.close();
  return { setup: median(setups), exec: median(execs), mibps: bytes / 1048576 / seconds };
}

/** Fresh-process cost of loading each protocol's code (the guest starts Node cold). */
function requireMs(module: string): number {
  const script = `const t=process.hrtime.bigint();require(${JSON.stringify(module)});process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6))`;
  const runs = [0, 1, 2].map(() => Number(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })));
  return median(runs);
}

async function realExecRoundTrip(): Promise<number | undefined> {
  const helper = join(dir, 'tether-helper');
  try {
    execFileSync('gcc', ['-O2', '-o', helper, join(process.cwd(), 'src/tether/native/tether-helper.c')]);
  } catch {
    return undefined; // no compiler, or not run from the repository's root: skip this figure
  }
  const launcher = createLauncher({ rootDir: '/', helperPath: helper });
  const times: number[] = [];
  const path = sockPath('real');
  let accepted: (c: TetherClient) => void = () => {};
  const server = createServer((socket) => {
    TetherClient.accept(socket).then((c) => accepted(c));
  });
  await listen(server, path);
  const ready = new Promise<TetherClient>((r) => {
    accepted = r;
  });
  const conn = new FrameConnection(await connectUnix(path));
  await new SessionHost(conn, {
    vmId: 'real',
    main: new MainProcess({ argv: ['true'] }, launcher),
    launcher,
  }).handshake();
  const client = await ready;
  for (let i = 0; i < 50; i++) {
    const t0 = process.hrtime.bigint();
    const s = await client.exec({ argv: ['true'] });
    s.stdout.resume();
    s.stderr.resume();
    await s.exitCode;
    times.push(ms(t0));
  }
  client.close();
  server.close();
  return median(times);
}

async function main(): Promise<void> {
  const framing = await benchFraming(fakeLauncher());
  const sshDefault = await benchSsh(undefined);
  const sshChacha = await benchSsh('chacha20-poly1305@openssh.com');
  const realExec = await realExecRoundTrip();
  const requireSsh2 = requireMs(require.resolve('ssh2'));
  const requireFraming = requireMs(require.resolve('../src/tether/session-host'));
  rmSync(dir, { recursive: true, force: true });

  const row = (name: string, r: { setup: number; exec: number; mibps: number }) =>
    `${name.padEnd(28)} setup ${r.setup.toFixed(2).padStart(7)} ms   exec round trip ${r.exec.toFixed(3).padStart(7)} ms   ${r.mibps.toFixed(0).padStart(5)} MiB/s`;
  console.log(
    `backchannel on the host (medians; setup n=${SETUP_RUNS}, exec n=${EXEC_RUNS}, ${BULK_BYTES >> 20} MiB bulk)`,
  );
  console.log(row('framing (src/tether)', framing));
  console.log(row('ssh2, default cipher', sshDefault));
  console.log(row('ssh2, chacha20-poly1305', sshChacha));
  if (realExec !== undefined) console.log(`framing, exec of real \`true\`: ${realExec.toFixed(2)} ms`);
  console.log(`fresh require: ssh2 ${requireSsh2.toFixed(1)} ms, tether session host ${requireFraming.toFixed(1)} ms`);
  console.log(
    JSON.stringify({
      bench: 'backchannel',
      framing: { setupMs: round(framing.setup), execMs: round(framing.exec), mibps: round(framing.mibps, 1) },
      ssh2: { setupMs: round(sshDefault.setup), execMs: round(sshDefault.exec), mibps: round(sshDefault.mibps, 1) },
      ssh2Chacha: { setupMs: round(sshChacha.setup), execMs: round(sshChacha.exec), mibps: round(sshChacha.mibps, 1) },
      realExecMs: realExec === undefined ? null : round(realExec),
      requireMs: { ssh2: round(requireSsh2, 1), framing: round(requireFraming, 1) },
    }),
  );
}

main().catch((err: Error) => {
  console.error(err);
  process.exit(1);
});
