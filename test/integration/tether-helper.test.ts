import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { parkHelper, runHelper } from '../../src/tether/parked-helper';
import { createLauncher } from '../../src/tether/process-launcher';
import { buildTether, collect } from './tether-harness';

let dir: string;
beforeAll(() => {
  dir = buildTether();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tether-helper init (the PID-1 reaper, as a child subreaper here)', () => {
  test('reaps orphans and exits as its child did', () => {
    // The shell leaves orphans behind; after a while, none of init's children is a zombie.
    const script = `( true & ) ; ( sleep 0.05 & ) ; sleep 0.4
      for f in /proc/[0-9]*/stat; do read -r l < $f 2>/dev/null || continue; set -- $l; [ "$4" = "$PPID" ] && echo "$3"; done
      exit 7`;
    const r = spawnSync(join(dir, 'tether-helper'), ['init', '--', 'sh', '-c', script], { encoding: 'utf8' });
    expect(r.status).toBe(7);
    expect(r.stdout.trim().split('\n')).toEqual(['R']); // only the shell itself, running
  });

  test('a child killed by a signal: init dies of the same signal', () => {
    const r = spawnSync(join(dir, 'tether-helper'), ['init', '--', 'sh', '-c', 'kill -TERM $$']);
    expect(r.signal).toBe('SIGTERM');
  });
});

describe('tether-helper run (the VM set-up steps)', () => {
  const run = (...steps: string[][]) =>
    spawnSync(join(dir, 'tether-helper'), ['run', '--', ...steps.flatMap((s, i) => (i === 0 ? s : [';', ...s]))], {
      encoding: 'utf8',
    });

  test('write makes the file with the content, newlines and all, and replaces an old one', () => {
    const file = join(dir, 'etc-made', 'hosts');
    writeFileSync(join(dir, 'old'), 'a much longer old content\n');
    const r = run(
      ['mkdir', join(dir, 'etc-made')],
      ['write', file, '127.0.0.1\tlocalhost\n10.0.0.9 db\n'],
      ['write', join(dir, 'old'), 'new\n'],
      ['write', join(dir, 'empty'), ''],
      // A value that is the step separator is still a value: steps are read by their words.
      ['write', join(dir, 'semicolon'), ';'],
    );
    expect(r.status).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe('127.0.0.1\tlocalhost\n10.0.0.9 db\n');
    expect(statSync(file).mode & 0o777).toBe(0o644);
    expect(readFileSync(join(dir, 'old'), 'utf8')).toBe('new\n');
    expect(readFileSync(join(dir, 'empty'), 'utf8')).toBe('');
    expect(readFileSync(join(dir, 'semicolon'), 'utf8')).toBe(';');
    // One timing line per step, naming what it made.
    expect(r.stdout).toMatch(new RegExp(`^write ${file} \\d+\\.\\d$`, 'm'));
  });

  test('disks waits for its SCSI units and says which never came; a mount of a missing unit fails', () => {
    // No disk of ours sits at units 61 and 62 on this host.
    const t0 = Date.now();
    const r = run(['disks', '200', '61', '62']);
    expect(r.status).toBe(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
    expect(r.stderr.trim()).toBe('disks on SCSI unit 61, 62 did not appear');

    const m = run(['mount', 'scsi-unit:61', join(dir, 'mnt'), 'ext4', 'ro', '-']);
    expect(m.status).toBe(1);
    expect(m.stderr.trim()).toBe('no disk on SCSI unit 61');

    // What is not a number is refused as a bad argument (125), not waited for.
    for (const [step, message] of [
      [['disks', '200', 'sdb'], 'disks: bad SCSI unit sdb'],
      [['disks', '200', '+1'], 'disks: bad SCSI unit +1'],
      [['disks', 'soon', '1'], 'disks: bad timeout soon'],
      [['mount', 'scsi-unit: 1', join(dir, 'mnt'), 'ext4', 'ro', '-'], 'mount: bad SCSI unit  1'],
      [['mkdir', join(dir, 'a'), join(dir, 'b')], 'bad step: mkdir'],
    ] as const) {
      const bad = run([...step]);
      expect([bad.status, bad.stderr.trim()]).toEqual([125, message]);
    }
  });
});

describe('tether-helper park (a helper started ahead, its command given later)', () => {
  test('runs the command it is given, with its stdio, as soon as the command has arrived', async () => {
    const parked = parkHelper(join(dir, 'tether-helper'));
    const file = join(dir, 'parked-write');
    const times = await runHelper(
      join(dir, 'tether-helper'),
      ['run', '--', 'write', file, 'from a parked helper'],
      parked,
    );
    expect(readFileSync(file, 'utf8')).toBe('from a parked helper');
    expect(times).toMatch(/^write \S+parked-write \d+\.\d\n$/);

    // The length line lets it start before the pipe is closed: Node closes it only when its loop turns.
    const early = parkHelper(join(dir, 'tether-helper'));
    const command = Buffer.from(['', 'run', '--', 'write', `${file}-early`, 'x'].map((s) => `${s}\0`).join(''));
    (early.stdio[4] as Writable).write(Buffer.concat([Buffer.from(`${command.length}\n`), command]));
    const [code] = await once(early, 'exit');
    expect(code).toBe(0);
    expect(readFileSync(`${file}-early`, 'utf8')).toBe('x');
    early.stdio[4]?.destroy();
  });

  test('a park given nothing exits 0; a command without its length line is refused', async () => {
    const idle = parkHelper(join(dir, 'tether-helper'));
    (idle.stdio[4] as Writable).end();
    expect((await once(idle, 'exit'))[0]).toBe(0);

    const bad = parkHelper(join(dir, 'tether-helper'));
    let stderr = '';
    bad.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    (bad.stdio[4] as Writable).end(Buffer.from('run\0--\0'));
    expect((await once(bad, 'exit'))[0]).toBe(125);
    expect(stderr).toMatch(/tether-helper park: (bad length|no length line)/);
  });
});

describe('launcher', () => {
  const launch = () => createLauncher({ rootDir: '/', helperPath: join(dir, 'tether-helper') });

  test('supplementary groups go through the helper (Node’s spawn would drop them)', async () => {
    // An image root of our own: its passwd and group, the host's binaries linked in.
    const root = join(dir, 'image');
    mkdirSync(join(root, 'etc'), { recursive: true });
    for (const d of ['bin', 'usr']) symlinkSync(`/${d}`, join(root, d));
    writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\napp:x:4242:4242::/home/app:/bin/sh\n');
    writeFileSync(join(root, 'etc/group'), 'root:x:0:\napp:x:4242:\nextra:x:5555:app\nmore:x:5556:other,app\n');
    const launchIn = createLauncher({ rootDir: root, helperPath: join(dir, 'tether-helper') });
    const p = await launchIn({ argv: ['sh', '-c', 'id -u; id -G; echo $HOME'], user: 'app' });
    const out = (await collect(p.stdout)).toString();
    await expect(p.exited).resolves.toEqual({ exitCode: 0 });
    expect(out).toBe('4242\n4242 5555 5556\n/home/app\n');
  });

  test('a bad user is refused before anything runs', async () => {
    await expect(launch()({ argv: ['true'], user: 'ghost-user' })).rejects.toMatchObject({
      message: 'unable to find user ghost-user: no matching entries in passwd file',
      exitCode: 126,
    });
  });
});
