/**
 * The real docker CLI (v28) running containers through the personality, over the fake
 * port layer whose "containers" are host processes: proves `docker run` and friends get
 * the wire protocol they need — create/404/pull/create, hijacked attach, wait with early
 * headers, exit codes, stdin half-close, ttys, exec, logs, events.
 */

import pino from 'pino';
import { createPersonality, type ListeningPersonality } from '../../src/personality';
import { dockerAvailable, runDocker } from '../helpers/dockerCli';
import { createFakePortLayer, type FakeContainerService } from '../helpers/fakePortLayer';

const describeIfDocker = dockerAvailable() ? describe : describe.skip;

describeIfDocker('docker CLI running containers through the personality', () => {
  let server: ListeningPersonality;
  let containers: FakeContainerService;
  const docker = (args: string[], opts: { env?: Record<string, string>; tty?: boolean; stdin?: string } = {}) =>
    runDocker(args, { host: server.address, timeoutMs: 20_000, ...opts });

  beforeAll(async () => {
    const portLayer = createFakePortLayer({ remote: [{ reference: 'busybox:latest', layerSizes: [1000] }] });
    containers = portLayer.containers;
    server = await createPersonality({ ...portLayer, logger: pino({ level: 'silent' }) }).listen({ port: 0 });
  });

  afterAll(async () => {
    containers?.shutdown();
    await server?.close();
  });

  it('docker run --rm busybox echo hello: pulls on 404, prints, exits 0, removes', async () => {
    const r = await docker(['run', '--rm', 'busybox', 'echo', 'hello']);
    expect(r.stdout).toBe('hello\n');
    expect(r.stderr).toContain("Unable to find image 'busybox:latest' locally");
    expect(r.code).toBe(0);
    const ps = await docker(['ps', '-aq']);
    expect(ps.stdout).toBe('');
  });

  it('passes exit codes through: 3, 125 (no such image), 127 (no such command)', async () => {
    const three = await docker(['run', '--rm', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(three.code).toBe(3);
    expect(three.stdout).toBe('out\n');
    expect(three.stderr).toContain('err\n');
    const noImage = await docker(['run', '--rm', 'nosuchimage']);
    expect(noImage.code).toBe(125);
    expect(noImage.stderr).toContain('pull access denied for nosuchimage');
    const noCmd = await docker(['run', '--rm', 'busybox', 'nosuchcommand']);
    expect(noCmd.code).toBe(127);
    expect(noCmd.stderr).toContain('executable file not found in $PATH');
  });

  it('feeds stdin and passes its EOF on: echo abc | docker run -i busybox cat', async () => {
    const r = await docker(['run', '-i', '--rm', 'busybox', 'cat'], { stdin: 'abc\ndef\n' });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('abc\ndef\n');
  });

  it('runs a tty: docker run -it under a pty, typing exit', async () => {
    const r = await docker(['run', '-it', '--rm', 'busybox', 'sh'], {
      tty: true,
      stdin: 'echo inside-$((6*7))\nexit 4\n',
    });
    expect(r.stdout).toContain('inside-42');
    expect(r.code).toBe(4);
  });

  it('run -d, logs -f, wait, inspect, ps filters, rename, rm', async () => {
    const run = await docker([
      'run',
      '-d',
      '--name',
      'ticker',
      '-l',
      'app=tick',
      '-e',
      'WHO=world',
      'busybox',
      'sh',
      '-c',
      'for i in 1 2 3; do echo "$WHO $i"; sleep 0.2; done; exit 2',
    ]);
    expect(run.code).toBe(0);
    const id = run.stdout.trim();
    expect(id).toMatch(/^[a-f0-9]{64}$/);
    const logs = await docker(['logs', '-f', 'ticker']);
    expect(logs.stdout).toBe('world 1\nworld 2\nworld 3\n');
    const wait = await docker(['wait', id.slice(0, 8)]);
    expect(wait.stdout.trim()).toBe('2');
    const inspect = await docker([
      'inspect',
      '-f',
      '{{.State.Status}} {{.State.ExitCode}} {{.Name}} {{index .Config.Labels "app"}} {{.Path}} {{.HostConfig.RestartPolicy.Name}}',
      'ticker',
    ]);
    expect(inspect.stdout.trim()).toBe('exited 2 /ticker tick sh no');
    const ps = await docker([
      'ps',
      '-a',
      '--filter',
      'label=app=tick',
      '--filter',
      'exited=2',
      '--format',
      '{{.Names}}',
    ]);
    expect(ps.stdout.trim()).toBe('ticker');
    const running = await docker(['ps', '--filter', 'label=app=tick', '--format', '{{.Names}}']);
    expect(running.stdout.trim()).toBe('');
    const tail = await docker(['logs', '--tail', '1', 'ticker']);
    expect(tail.stdout).toBe('world 3\n');
    expect((await docker(['rename', 'ticker', 'tocker'])).code).toBe(0);
    const byName = await docker(['ps', '-a', '--filter', 'name=tocker', '--format', '{{.ID}}']);
    expect(byName.stdout.trim()).toBe(id.slice(0, 12));
    const rm = await docker(['rm', 'tocker']);
    expect(rm.code).toBe(0);
    const gone = await docker(['inspect', 'tocker']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('No such object: tocker');
  });

  it('exec, stats, stop, restart, kill, rm -f on a running container', async () => {
    expect((await docker(['run', '-d', '--name', 'sleeper', 'busybox', 'sleep', '100'])).code).toBe(0);
    const exec = await docker(['exec', 'sleeper', 'sh', '-c', 'echo from-exec; exit 5']);
    expect(exec.stdout).toBe('from-exec\n');
    expect(exec.code).toBe(5);
    const execIn = await docker(['exec', '-i', 'sleeper', 'cat'], { stdin: 'piped\n' });
    expect(execIn.stdout).toBe('piped\n');
    const stats = await docker(['stats', '--no-stream', '--format', '{{.Name}} {{.PIDs}}', 'sleeper']);
    expect(stats.code).toBe(0);
    expect(stats.stdout.trim()).toBe('sleeper 1');
    const stop = await docker(['stop', '-t', '5', 'sleeper']);
    expect(stop.code).toBe(0);
    const code = await docker(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'sleeper']);
    expect(code.stdout.trim()).toBe('exited 143');
    expect((await docker(['restart', 'sleeper'])).code).toBe(0);
    expect((await docker(['ps', '--filter', 'status=running', '--format', '{{.Names}}'])).stdout.trim()).toBe(
      'sleeper',
    );
    expect((await docker(['kill', '-s', 'INT', 'sleeper'])).code).toBe(0);
    expect((await docker(['wait', 'sleeper'])).stdout.trim()).toBe('130');
    const killStopped = await docker(['kill', 'sleeper']);
    expect(killStopped.code).toBe(1);
    expect(killStopped.stderr).toContain('is not running');
    expect((await docker(['start', 'sleeper'])).code).toBe(0);
    const rmRunning = await docker(['rm', 'sleeper']);
    expect(rmRunning.code).toBe(1);
    expect(rmRunning.stderr).toContain('container is running');
    expect((await docker(['rm', '-f', 'sleeper'])).code).toBe(0);
    const missing = await docker(['stop', 'sleeper']);
    expect(missing.stderr).toContain('No such container: sleeper');
  });

  it('shows lifecycle events during a run, legacy fields included', async () => {
    // `--until` as a Unix time: a duration would count back from now and end at once.
    const until = String(Math.floor(Date.now() / 1000) + 4);
    const events = docker(['events', '--until', until, '--format', '{{.Status}} {{.Action}} {{.From}}']);
    await new Promise((r) => setTimeout(r, 500));
    expect((await docker(['run', '--rm', '--name', 'evt', 'busybox', 'true'])).code).toBe(0);
    const seen = (await events).stdout;
    expect(seen).toContain('create create busybox');
    expect(seen).toContain('attach attach busybox');
    expect(seen).toContain('start start busybox');
    expect(seen).toContain('die die busybox');
    expect(seen).toContain('destroy destroy busybox');
  });

  it('works with an older client: DOCKER_API_VERSION=1.41', async () => {
    const env = { DOCKER_API_VERSION: '1.41' };
    const r = await docker(['run', '--rm', 'busybox', 'sh', '-c', 'echo old; exit 6'], { env });
    expect(r.stdout).toBe('old\n');
    expect(r.code).toBe(6);
    const ps = await docker(['ps', '-a'], { env });
    expect(ps.code).toBe(0);
  });

  it('rejects bad names and restart policies with dockerd texts', async () => {
    const name = await docker(['create', '--name', 'bad name', 'busybox']);
    expect(name.code).toBe(1);
    expect(name.stderr).toContain('Invalid container name (bad name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed');
    const dup1 = await docker(['create', '--name', 'twin', 'busybox']);
    expect(dup1.code).toBe(0);
    const dup2 = await docker(['create', '--name', 'twin', 'busybox']);
    expect(dup2.stderr).toContain('Conflict. The container name "/twin" is already in use');
    const policy = await docker(['create', '--restart', 'on-failure:3', '--name', 'retry', 'busybox']);
    expect(policy.code).toBe(0);
    const shown = await docker([
      'inspect',
      '-f',
      '{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}',
      'retry',
    ]);
    expect(shown.stdout.trim()).toBe('on-failure:3');
    const prune = await docker(['container', 'prune', '-f']);
    expect(prune.code).toBe(0);
    expect((await docker(['ps', '-aq'])).stdout.trim()).toBe('');
  });
});
