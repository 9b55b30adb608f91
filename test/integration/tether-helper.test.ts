import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
