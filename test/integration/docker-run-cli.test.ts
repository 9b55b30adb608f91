/**
 * `docker run` and friends end to end, as a user meets them: the real docker CLI against
 * the box `vch dev --with-test-registry` starts (vcsim, the host agent running each
 * container VM under qemu, the offline registry as docker.io's mirror, the port layer's
 * real ContainerLifecycle, the Docker API in front). One box for the file: every
 * container is an instant clone plus a hot-add, 1–3 s under TCG, so the cases share it
 * and run in order.
 *
 * What the box leaves behind is checked through vSphere (VMs), the datastore's folder
 * (disks) and the process table (qemu) rather than through the VCH, which could be wrong
 * about itself.
 */

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { VimClient } from '../../src/vsphere/client';
import { PropertyCollector } from '../../src/vsphere/propertyCollector';
import { type RunningBox, startTestBox } from '../helpers/box';
import {
  DOCKER_BIN,
  type DockerRunOptions,
  type DockerRunResult,
  dockerAvailable,
  runDocker,
} from '../helpers/dockerCli';
import { connectToSimulator } from '../helpers/vsphereSession';

jest.setTimeout(120_000);

let box: RunningBox;
let vim: VimClient;
let pc: PropertyCollector;
/** VM names on the simulator before any container: its own inventory and the VCH's template. */
let vmsBefore: Set<string>;
const timings: string[] = [];

function docker(args: readonly string[], options: Partial<DockerRunOptions> = {}): Promise<DockerRunResult> {
  return runDocker(args, { host: box.dockerHost, timeoutMs: 90_000, ...options });
}

/** Fails with the CLI's own words when a command did not succeed. */
async function ok(args: readonly string[], options: Partial<DockerRunOptions> = {}): Promise<string> {
  const r = await docker(args, options);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}:\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  try {
    return await fn();
  } finally {
    timings.push(`${label}: ${Date.now() - t0} ms`);
  }
}

async function inspectField(ref: string, format: string): Promise<string> {
  return (await ok(['inspect', '-f', format, ref])).trim();
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Every VM's name, through vSphere itself. */
async function vmNames(): Promise<string[]> {
  return pc.withContainerView(vim.serviceContent.rootFolder, ['VirtualMachine'], async (view) =>
    (await pc.retrieve(view, 'VirtualMachine', ['name'])).map((o) => String(o.props.name)),
  );
}

/** The local folder behind the image datastore (the container VMs' folders live there). */
function datastoreDir(): string {
  const ds = box.sim.datastores.find((d) => d.name === 'LocalDS_0') ?? box.sim.datastores[0];
  if (!ds) throw new Error('the simulator reports no datastore');
  return ds.path;
}

/** Container VM folders left on the datastore: `<name>-<12 hex>`, as the execution room names them. */
function containerFolders(): string[] {
  return readdirSync(datastoreDir()).filter((f) => /-[0-9a-f]{12}$/.test(f));
}

/**
 * qemu processes of this test's box: the host agent runs in this process and spawns qemu
 * directly (setpriv execs it), so they are our children; the other engineer's qemus are not.
 */
function ourQemus(): number[] {
  const out = spawnSync('pgrep', ['-P', String(process.pid), '-f', 'qemu-system-x86_64'], { encoding: 'utf8' }).stdout;
  return out.split('\n').filter(Boolean).map(Number);
}

function dockerEnv(configDir: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('DOCKER_')) env[k] = v;
  return { ...env, DOCKER_CONFIG: configDir, DOCKER_HOST: box.dockerHost, DOCKER_CLI_HINTS: 'false' };
}

/** A docker command left running (`events`) until the test ends it. */
function startDocker(args: readonly string[]): { child: ChildProcess; stop(): Promise<DockerRunResult> } {
  const configDir = mkdtempSync(join(tmpdir(), 'vch-docker-config-'));
  const child = spawn(DOCKER_BIN, [...args], { env: dockerEnv(configDir), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    child,
    async stop() {
      child.kill('SIGTERM');
      const code = await closed;
      rmSync(configDir, { recursive: true, force: true });
      return { stdout, stderr, code };
    },
  };
}

/**
 * A terminal a test can type into and resize: a private tmux server (its own socket, no
 * user config, no status line so the pane is the whole window). `script` cannot resize
 * its pty from outside; tmux can, and the CLI then sees SIGWINCH as at a real terminal.
 */
class Terminal {
  private readonly dir = mkdtempSync(join(tmpdir(), 'vch-tmux-'));
  private readonly socket = join(this.dir, 'sock');
  private readonly configDir = join(this.dir, 'docker');

  /** Where the wrapper writes docker's exit status once it ended. */
  private readonly statusFile = join(this.dir, 'status');
  constructor(args: readonly string[], cols: number, rows: number) {
    const conf = join(this.dir, 'tmux.conf');
    // remain-on-exit: the screen stays readable after the command ended.
    writeFileSync(conf, 'set -g status off\nset -g remain-on-exit on\n');
    // tmux 3.3a at times marks a pane dead without ever learning its command's status, so
    // a wrapper shell records the status itself (it adds no terminal of its own: docker
    // still talks to the pane's pty). The status goes to a temporary name first so that it
    // is read whole or not at all.
    const quote = (a: string): string => `'${a.replace(/'/g, `'\\''`)}'`;
    const status = quote(this.statusFile);
    const command = `${[DOCKER_BIN, ...args].map(quote).join(' ')}; echo $? > ${status}.tmp; mv ${status}.tmp ${status}`;
    this.tmux(
      ['-f', conf, 'new-session', '-d', '-s', 't', '-x', String(cols), '-y', String(rows), 'sh', '-c', command],
      dockerEnv(this.configDir),
    );
  }

  private tmux(args: readonly string[], env?: Record<string, string>): string {
    const r = spawnSync('tmux', ['-S', this.socket, ...args], { encoding: 'utf8', ...(env ? { env } : {}) });
    if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  screen(): string {
    return this.tmux(['capture-pane', '-p', '-J', '-S', '-200', '-t', 't']);
  }

  type(text: string): void {
    this.tmux(['send-keys', '-t', 't', '-l', text]);
    this.tmux(['send-keys', '-t', 't', 'Enter']);
  }

  /** Keys by tmux's names (`C-p`), as typed at the terminal. */
  keys(...names: string[]): void {
    this.tmux(['send-keys', '-t', 't', ...names]);
  }

  resize(cols: number, rows: number): void {
    this.tmux(['resize-window', '-t', 't', '-x', String(cols), '-y', String(rows)]);
  }

  /** Resolves with the screen once `re` matches it. */
  waitFor(re: RegExp, timeoutMs = 60_000): Promise<string> {
    return until(
      `${re} on the terminal`,
      async () => {
        const s = this.screen();
        if (re.test(s)) return s;
        // docker already ended: no point waiting out the timeout.
        if (this.deadStatus() !== undefined) throw new Error(`docker exited before ${re} appeared`);
        return undefined;
      },
      timeoutMs,
    ).catch((e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}; screen:\n${this.screen()}`);
    });
  }

  /** The command's exit status once it ended, else undefined. */
  private deadStatus(): number | undefined {
    return existsSync(this.statusFile) ? Number(readFileSync(this.statusFile, 'utf8').trim()) : undefined;
  }

  /** The exit status of the command once it ended. */
  exited(timeoutMs = 60_000): Promise<number> {
    return until('the terminal command to exit', async () => this.deadStatus(), timeoutMs);
  }

  close(): void {
    spawnSync('tmux', ['-S', this.socket, 'kill-server']);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

beforeAll(async () => {
  if (!dockerAvailable()) throw new Error('the docker CLI is missing (/usr/local/bin/docker)');
  await timed('box start (sim, registry, host agent, template frozen)', async () => {
    box = await startTestBox();
  });
  vim = await connectToSimulator(box.sim);
  pc = new PropertyCollector(vim);
  vmsBefore = new Set(await vmNames());
}, 600_000);

afterAll(async () => {
  await vim?.close().catch(() => undefined);
  await box?.stop();
  process.stderr.write(`docker-run-cli timings:\n  ${timings.join('\n  ')}\n`);
  // After the box, not one qemu may be left, the template's included.
  const left = ourQemus();
  if (left.length > 0) throw new Error(`qemu processes left after the box stopped: ${left.join(', ')}`);
}, 120_000);

test('docker run busybox echo hello: pulls on 404, prints hello, exits 0', async () => {
  const r = await timed('run echo hello (with pull)', () =>
    docker(['run', '--name', 'hello', 'busybox', 'echo', 'hello']),
  );
  expect(r.stderr).toContain("Unable to find image 'busybox:latest' locally");
  expect(r.stdout).toBe('hello\n');
  expect(r.code).toBe(0);
  expect(await inspectField('hello', '{{.State.Status}} {{.State.ExitCode}}')).toBe('exited 0');
  await ok(['rm', 'hello']);
});

test('docker run --rm busybox echo hello → hello, and nothing left', async () => {
  const r = await timed('run --rm echo hello', () => docker(['run', '--rm', 'busybox', 'echo', 'hello']));
  expect(r.stdout).toBe('hello\n');
  expect(r.code).toBe(0);
  expect((await ok(['ps', '-aq'])).trim()).toBe('');
});

test('exit codes: 3 from the process, 125 for no such image, 127 for no such executable', async () => {
  const three = await timed('run exit 3', () =>
    docker(['run', '--name', 'three', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 3']),
  );
  expect(three.stdout).toBe('out\n');
  expect(three.stderr).toContain('err\n');
  expect(three.code).toBe(3);

  const noImage = await docker(['run', 'nosuchimage']);
  expect(noImage.code).toBe(125);
  expect(noImage.stderr).toContain("Unable to find image 'nosuchimage:latest' locally");

  const noCmd = await timed('run nosuchcommand', () => docker(['run', '--name', 'nocmd', 'busybox', 'nosuchcommand']));
  expect(noCmd.stderr).toContain('executable file not found in $PATH');
  expect(noCmd.code).toBe(127);
  expect(await inspectField('nocmd', '{{.State.Status}} {{.State.ExitCode}}')).toBe('exited 127');
  await ok(['rm', 'three', 'nocmd']);
});

test('docker run -d, then docker logs -f follows to the end', async () => {
  const id = (
    await ok([
      'run',
      '-d',
      '--name',
      'ticker',
      'busybox',
      'sh',
      '-c',
      'for i in 1 2 3; do echo "tick $i"; sleep 1; done',
    ])
  ).trim();
  expect(id).toMatch(/^[0-9a-f]{64}$/);
  const logs = await timed('logs -f', () => docker(['logs', '-f', 'ticker']));
  expect(logs.stdout).toBe('tick 1\ntick 2\ntick 3\n');
  expect(logs.code).toBe(0);
  expect((await ok(['logs', '--tail', '1', 'ticker'])).trim()).toBe('tick 3');
  await ok(['rm', 'ticker']);
});

test('docker run -it at a terminal: prompt, stty size, resize seen, exit 4', async () => {
  const term = new Terminal(['run', '-it', '--name', 'tty', 'busybox', 'sh'], 200, 50);
  try {
    await timed('run -it to prompt', () => term.waitFor(/\/ # $/m, 90_000));
    term.type('stty size');
    await term.waitFor(/^50 200\s*$/m);
    term.resize(100, 30);
    // The CLI sends the new size on SIGWINCH; give it a moment to reach the VM.
    await new Promise((r) => setTimeout(r, 1000));
    term.type('stty size');
    await term.waitFor(/^30 100\s*$/m);
    term.type('echo inside-$((6*7))');
    await term.waitFor(/^inside-42\s*$/m);
    term.type('exit 4');
    expect(await term.exited()).toBe(4);
  } finally {
    term.close();
  }
  expect(await inspectField('tty', '{{.State.Status}} {{.State.ExitCode}} {{.Config.Tty}}')).toBe('exited 4 true');
  await ok(['rm', 'tty']);
});

/**
 * ctrl-p ctrl-q at `docker run -it`: the shell must go on running. The CLI itself catches the
 * keys, but over TCP it does not take them for a detach (it checks the copy's error for
 * term.EscapeError, and net.TCPConn's ReadFrom wraps it): it restores the terminal, closes
 * its input and waits for the container's exit, as against dockerd. So the test checks what
 * matters here: the shell keeps running with its stdin open, a second `docker attach`
 * reaches the same shell, and its exit ends both CLIs with its status.
 */
test('ctrl-p ctrl-q at docker run -it leaves the shell running; docker attach reaches it, its exit ends both', async () => {
  const run = new Terminal(['run', '-it', '--name', 'detach', 'busybox', 'sh'], 120, 40);
  let again: Terminal | undefined;
  try {
    await timed('run -it to prompt', () => run.waitFor(/\/ # $/m, 90_000));
    run.type('MARK=same-shell; echo before-$((1+1))');
    await run.waitFor(/^before-2\s*$/m);
    run.keys('C-p', 'C-q');
    await new Promise((r) => setTimeout(r, 2000));
    expect(await inspectField('detach', '{{.State.Status}}')).toBe('running');

    // The same shell, its stdin not closed by the detach: its variable is still set.
    again = new Terminal(['attach', 'detach'], 120, 40);
    // attach shows nothing until the shell writes: give it time to connect and go raw.
    await new Promise((r) => setTimeout(r, 3000));
    again.type('echo back-$MARK');
    await again.waitFor(/^back-same-shell\s*$/m);
    again.type('exit 3');
    expect(await again.exited()).toBe(3);
    expect(await run.exited()).toBe(3);
  } finally {
    run.close();
    again?.close();
  }
  expect(await inspectField('detach', '{{.State.Status}} {{.State.ExitCode}}')).toBe('exited 3');
  await ok(['rm', 'detach']);
});

test('docker attach to a running container gets its output and exit code', async () => {
  await ok([
    'run',
    '-d',
    '--name',
    'att',
    'busybox',
    'sh',
    '-c',
    'sleep 5; echo attached-out; echo attached-err >&2; exit 7',
  ]);
  const r = await timed('attach', () => docker(['attach', 'att']));
  expect(r.stdout).toBe('attached-out\n');
  expect(r.stderr).toContain('attached-err\n');
  expect(r.code).toBe(7);
  await ok(['rm', 'att']);
});

test('a running container: exec, exec -it, stop (143), restart, kill (137)', async () => {
  await timed('run -d sleep', () => ok(['run', '-d', '--name', 'sleeper', 'busybox', 'sleep', '1000']));
  expect((await ok(['ps', '--format', '{{.Names}} {{.Status}}'])).trim()).toMatch(/^sleeper Up/);

  const exec = await timed('exec', () => docker(['exec', 'sleeper', 'sh', '-c', 'echo from-exec; exit 5']));
  expect(exec.stdout).toBe('from-exec\n');
  expect(exec.code).toBe(5);
  const execIn = await docker(['exec', '-i', 'sleeper', 'cat'], { stdin: 'piped\n' });
  expect(execIn.stdout).toBe('piped\n');
  expect(execIn.code).toBe(0);
  // At a terminal: a shell in the running container with a tty of the terminal's size, resized with it.
  const term = new Terminal(['exec', '-it', 'sleeper', 'sh'], 200, 50);
  try {
    await timed('exec -it to prompt', () => term.waitFor(/\/ # $/m));
    term.type('tty; stty size');
    await term.waitFor(/^\/dev\/pts\/\d+\s*\n50 200\s*$/m);
    term.resize(120, 40);
    await new Promise((r) => setTimeout(r, 1000));
    term.type('stty size');
    await term.waitFor(/^40 120\s*$/m);
    term.type('exit 6');
    const code = await term.exited();
    expect({ code, screen: code === 6 ? '' : term.screen() }).toEqual({ code: 6, screen: '' });
  } finally {
    term.close();
  }
  // The same through `script` with stdin at EOF at once (how CI scripts run `docker exec -it`).
  const execTty = await docker(['exec', '-it', 'sleeper', 'sh', '-c', 'tty; stty size; exit 6'], { tty: true });
  expect({ code: execTty.code, stdout: execTty.stdout.replace(/\r/g, ''), stderr: execTty.stderr }).toEqual({
    code: 6,
    stdout: expect.stringMatching(/\/dev\/pts\/\d+\n50 200\n/),
    stderr: '',
  });

  await timed('stop -t 5', () => ok(['stop', '-t', '5', 'sleeper']));
  expect(await inspectField('sleeper', '{{.State.Status}} {{.State.ExitCode}}')).toBe('exited 143');

  // An exited container runs again by a cold boot of its VM.
  await timed('restart (cold boot)', () => ok(['restart', 'sleeper']));
  expect(await inspectField('sleeper', '{{.State.Status}} {{.State.Running}}')).toBe('running true');
  expect((await docker(['exec', 'sleeper', 'echo', 'again'])).stdout).toBe('again\n');

  await ok(['kill', 'sleeper']);
  expect((await ok(['wait', 'sleeper'])).trim()).toBe('137');
  expect(await inspectField('sleeper', '{{.State.Status}} {{.State.ExitCode}}')).toBe('exited 137');
  const killStopped = await docker(['kill', 'sleeper']);
  expect(killStopped.code).toBe(1);
  expect(killStopped.stderr).toContain('is not running');
  await ok(['rm', 'sleeper']);
});

test('ps filters, inspect, wait, and rm -f of a running container (its VM goes)', async () => {
  const a = (
    await ok([
      'run',
      '-d',
      '--name',
      'psa',
      '-l',
      'app=vch-e2e',
      '-l',
      'tier=a',
      '-e',
      'WHO=a',
      'busybox',
      'sleep',
      '1000',
    ])
  ).trim();
  const b = (await ok(['run', '-d', '--name', 'psb', '-l', 'app=vch-e2e', 'busybox', 'sh', '-c', 'exit 2'])).trim();
  expect((await ok(['wait', 'psb'])).trim()).toBe('2');

  const names = async (args: readonly string[]): Promise<string[]> =>
    (await ok(['ps', ...args, '--format', '{{.Names}}'])).split('\n').filter(Boolean).sort();
  expect(await names(['--filter', 'label=app=vch-e2e'])).toEqual(['psa']);
  expect(await names(['-a', '--filter', 'label=app=vch-e2e'])).toEqual(['psa', 'psb']);
  expect(await names(['-a', '--filter', 'label=tier=a'])).toEqual(['psa']);
  expect(await names(['-a', '--filter', 'exited=2'])).toEqual(['psb']);
  expect(await names(['-a', '--filter', 'status=exited', '--filter', 'name=ps'])).toEqual(['psb']);
  expect(await names(['--filter', 'status=running', '--filter', 'name=psa'])).toEqual(['psa']);
  expect(await names(['-a', '--filter', `id=${b.slice(0, 10)}`])).toEqual(['psb']);
  expect((await ok(['ps', '-q', '--filter', 'name=psa'])).trim()).toBe(a.slice(0, 12));

  const [details] = JSON.parse(await ok(['inspect', 'psa'])) as {
    Id: string;
    Name: string;
    Path: string;
    Args: string[];
    State: { Status: string; Running: boolean; Pid: number };
    Config: { Image: string; Env: string[]; Labels: Record<string, string>; Hostname: string };
  }[];
  expect(details).toMatchObject({
    Id: a,
    Name: '/psa',
    Path: 'sleep',
    Args: ['1000'],
    State: { Status: 'running', Running: true },
    Config: { Image: 'busybox', Labels: { app: 'vch-e2e', tier: 'a' }, Hostname: a.slice(0, 12) },
  });
  expect(details!.Config.Env).toContain('WHO=a');
  expect(await inspectField('psb', '{{.State.Status}} {{.State.ExitCode}}')).toBe('exited 2');

  // Through vSphere: the container VM is named `<name>-<short id>`.
  expect(await vmNames()).toContain(`psa-${a.slice(0, 12)}`);
  const refused = await docker(['rm', 'psa']);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain('container is running');
  await timed('rm -f running', () => ok(['rm', '-f', 'psa']));
  expect(await vmNames()).not.toContain(`psa-${a.slice(0, 12)}`);
  const gone = await docker(['inspect', 'psa']);
  expect(gone.code).toBe(1);
  expect(gone.stderr).toContain('No such object: psa');
  await ok(['rm', 'psb']);
});

test('docker rename, then the new name finds it', async () => {
  const id = (await ok(['create', '--name', 'before', 'busybox', 'true'])).trim();
  await ok(['rename', 'before', 'after']);
  expect((await ok(['ps', '-aq', '--filter', 'name=after'])).trim()).toBe(id.slice(0, 12));
  expect(await inspectField(id, '{{.Name}}')).toBe('/after');
  await ok(['rm', 'after']);
});

test('docker top lists the main process', async () => {
  await ok(['run', '-d', '--name', 'topped', 'busybox', 'sleep', '1000']);
  const top = await ok(['top', 'topped']);
  expect(top).toMatch(/PID/);
  expect(top).toContain('sleep 1000');
  await ok(['rm', '-f', 'topped']);
});

test('docker stats --no-stream shows a running container', async () => {
  await ok(['run', '-d', '--name', 'statted', 'busybox', 'sleep', '1000']);
  const stats = await ok(['stats', '--no-stream', '--format', '{{.Name}} {{.PIDs}} {{.MemUsage}}', 'statted']);
  expect(stats.trim()).toMatch(/^statted [1-9]\d* \S+/);
  await ok(['rm', '-f', 'statted']);
});

test('docker events shows the lifecycle of a run as it happens', async () => {
  const events = startDocker(['events', '--format', '{{.Type}} {{.Action}} {{.Actor.Attributes.name}}']);
  // The stream must be open before the run; the CLI prints nothing until the first event.
  await new Promise((r) => setTimeout(r, 1000));
  expect((await docker(['run', '--name', 'evt', 'busybox', 'true'])).code).toBe(0);
  await ok(['rm', 'evt']);
  await new Promise((r) => setTimeout(r, 500));
  const seen = (await events.stop()).stdout
    .split('\n')
    .filter((l) => l.endsWith(' evt'))
    .map((l) => l.replace(/ evt$/, ''));
  expect(seen).toEqual([
    'container create',
    'container attach',
    'container start',
    'container die',
    'container destroy',
  ]);
});

test('--restart on-failure:2 restarts twice (die and start each time), then stays exited', async () => {
  const events = startDocker([
    'events',
    '--filter',
    'container=flaky',
    '--format',
    '{{.Action}}{{with .Actor.Attributes.exitCode}} {{.}}{{end}}',
  ]);
  await new Promise((r) => setTimeout(r, 1000));
  await ok(['run', '-d', '--name', 'flaky', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'exit 1']);
  const format = '{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}';
  await timed('on-failure:2 (two cold boots)', () =>
    until(
      'two restarts',
      async () => ((await inspectField('flaky', format)) === '2 exited 1' ? true : undefined),
      120_000,
    ),
  );
  // And no third.
  await new Promise((r) => setTimeout(r, 5000));
  expect(await inspectField('flaky', format)).toBe('2 exited 1');
  expect(
    await inspectField('flaky', '{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}'),
  ).toBe('on-failure:2');
  await ok(['rm', 'flaky']);
  await new Promise((r) => setTimeout(r, 500));
  const seen = (await events.stop()).stdout.trim().split('\n');
  expect(seen).toEqual(['create', 'start', 'die 1', 'start', 'die 1', 'start', 'die 1', 'destroy']);
}, 180_000);

test('--restart always: a user stop holds it, docker update changes the policy', async () => {
  await ok(['run', '-d', '--name', 'keeper', '--restart', 'always', 'busybox', 'sleep', '1000']);
  await ok(['stop', '-t', '1', 'keeper']);
  await new Promise((r) => setTimeout(r, 3000));
  expect(await inspectField('keeper', '{{.State.Status}} {{.RestartCount}}')).toBe('exited 0');
  await ok(['update', '--restart', 'unless-stopped', 'keeper']);
  expect(await inspectField('keeper', '{{.HostConfig.RestartPolicy.Name}}')).toBe('unless-stopped');
  await ok(['rm', 'keeper']);
});

test('--rm removes the container VM and its disks (seen through vSphere)', async () => {
  const id = (await ok(['run', '-d', '--rm', '--name', 'rmcheck', 'busybox', 'sleep', '3'])).trim();
  const vm = `rmcheck-${id.slice(0, 12)}`;
  expect(await vmNames()).toContain(vm);
  expect(existsSync(join(datastoreDir(), vm))).toBe(true);
  await timed('--rm removal after exit', () =>
    until('the VM and its folder to go', async () =>
      !(await vmNames()).includes(vm) && !existsSync(join(datastoreDir(), vm)) ? true : undefined,
    ),
  );
  // The VCH learns of the destroy from its vSphere watch a moment after vSphere itself.
  const gone = await until(
    'inspect to say No such object',
    async () => {
      const r = await docker(['inspect', 'rmcheck']);
      return r.code === 0 ? undefined : r;
    },
    10_000,
  );
  expect(gone.stderr).toContain('No such object: rmcheck');
});

test('an older client: DOCKER_API_VERSION=1.41', async () => {
  const env = { DOCKER_API_VERSION: '1.41' };
  const r = await timed('run with API 1.41', () =>
    docker(['run', '--name', 'old', 'busybox', 'sh', '-c', 'echo old; exit 6'], { env }),
  );
  expect(r.stdout).toBe('old\n');
  expect(r.code).toBe(6);
  expect((await ok(['ps', '-a', '--format', '{{.Names}}'], { env })).split('\n')).toContain('old');
  await ok(['rm', 'old'], { env });
});

test('after the suite: no container, no container VM, disk or qemu left beyond the template', async () => {
  // Whatever a failed case left: remove it the way a user would, then check underneath.
  const left = (await ok(['ps', '-aq'])).split('\n').filter(Boolean);
  if (left.length > 0) await docker(['rm', '-f', ...left]);
  expect((await ok(['ps', '-aq'])).trim()).toBe('');
  const extra = (await vmNames()).filter((n) => !vmsBefore.has(n));
  expect(extra).toEqual([]);
  expect([...vmsBefore].filter((n) => n.endsWith('-template'))).toHaveLength(1);
  expect(containerFolders()).toEqual([]);
  // Containers power off when their process ends; the template's qemu went when it froze.
  await until('container qemus to end', async () => (ourQemus().length === 0 ? true : undefined), 30_000);
});
