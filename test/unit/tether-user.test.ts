import { buildEnvironment, DEFAULT_PATH } from '../../src/tether/environment';
import { parseGroup, parsePasswd } from '../../src/tether/passwd';
import { ExecError, type FileProbe, lookPath } from '../../src/tether/path-lookup';
import { dockerExitCode, parseSignal } from '../../src/tether/signals';
import { resolveUser } from '../../src/tether/user';

const passwd = parsePasswd(`root:x:0:0:root:/root:/bin/sh
# a comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
app:x:1000:1000::/home/app:/bin/sh
broken line
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
`);
const group = parseGroup(`root:x:0:
daemon:x:1:
wheel:x:10:app,other
docker:x:999:app
app:x:1000:
nogroup:x:65534:
`);

describe('resolveUser (runc GetExecUser rules)', () => {
  test('empty is root with its home', () => {
    expect(resolveUser('', passwd, group)).toEqual({ uid: 0, gid: 0, groups: [], home: '/root' });
    expect(resolveUser(undefined, [], [])).toEqual({ uid: 0, gid: 0, groups: [], home: '/' });
  });
  test('a name gives its uid, primary gid, home and supplementary groups', () => {
    expect(resolveUser('app', passwd, group)).toEqual({ uid: 1000, gid: 1000, groups: [10, 999], home: '/home/app' });
  });
  test('a numeric uid in passwd is that user; one not in passwd needs no entry', () => {
    expect(resolveUser('1000', passwd, group)).toMatchObject({ uid: 1000, gid: 1000, home: '/home/app' });
    expect(resolveUser('4242', passwd, group)).toEqual({ uid: 4242, gid: 0, groups: [], home: '/' });
  });
  test('user:group by names and numbers; an explicit group drops supplementary groups', () => {
    expect(resolveUser('app:docker', passwd, group)).toEqual({ uid: 1000, gid: 999, groups: [], home: '/home/app' });
    expect(resolveUser('1000:10', passwd, group)).toMatchObject({ uid: 1000, gid: 10, groups: [] });
    expect(resolveUser('4242:4343', passwd, group)).toMatchObject({ uid: 4242, gid: 4343 });
    expect(resolveUser('nobody:wheel', passwd, group)).toMatchObject({ uid: 65534, gid: 10 });
  });
  test('unknown names are errors worded as Docker words them', () => {
    expect(() => resolveUser('ghost', passwd, group)).toThrow(
      'unable to find user ghost: no matching entries in passwd file',
    );
    expect(() => resolveUser('app:ghosts', passwd, group)).toThrow(
      'unable to find group ghosts: no matching entries in group file',
    );
  });
});

describe('lookPath (Go exec.LookPath)', () => {
  const files: Record<string, ReturnType<FileProbe>> = {
    '/usr/bin/sh': 'executable',
    '/bin/data': 'not-executable',
    '/usr/local/bin/tool': 'executable',
    '/work/run.sh': 'executable',
    '/etc': 'directory',
  };
  const probe: FileProbe = (p) => files[p] ?? 'missing';
  test('searches PATH in order', () => {
    expect(lookPath('sh', '/usr/local/bin:/usr/bin', '/', probe)).toBe('/usr/bin/sh');
    expect(lookPath('tool', '/usr/local/bin:/usr/bin', '/', probe)).toBe('/usr/local/bin/tool');
  });
  test('skips files that are not executable', () => {
    expect(() => lookPath('data', '/bin', '/', probe)).toThrow('exec: "data": executable file not found in $PATH');
  });
  test('a missing command is 127 with Docker’s message', () => {
    try {
      lookPath('foo', '/usr/bin', '/', probe);
      throw new Error('no throw');
    } catch (err) {
      expect(err).toBeInstanceOf(ExecError);
      expect((err as ExecError).message).toBe('exec: "foo": executable file not found in $PATH');
      expect((err as ExecError).exitCode).toBe(127);
    }
  });
  test('a path is taken as is, relative to cwd', () => {
    expect(lookPath('./run.sh', '', '/work', probe)).toBe('./run.sh');
    expect(() => lookPath('/nope', '/usr/bin', '/', probe)).toThrow(
      'exec: "/nope": stat /nope: no such file or directory',
    );
    expect(() => lookPath('/etc', '', '/', probe)).toThrow(expect.objectContaining({ exitCode: 126 }));
  });
  test('an empty PATH entry means the working directory', () => {
    expect(lookPath('run.sh', ':/usr/bin', '/work', probe)).toBe('run.sh');
  });
});

describe('buildEnvironment', () => {
  const user = { uid: 1000, gid: 1000, groups: [], home: '/home/app' };
  test('adds PATH, HOME and (with a tty) TERM only where missing', () => {
    expect(buildEnvironment(['A=1', 'B=x=y', 'UNSET'], user, true)).toEqual({
      A: '1',
      B: 'x=y',
      PATH: DEFAULT_PATH,
      HOME: '/home/app',
      TERM: 'xterm',
    });
    expect(buildEnvironment(['PATH=/bin', 'HOME=/h'], user, false)).toEqual({ PATH: '/bin', HOME: '/h' });
  });
});

describe('signals', () => {
  test('names and numbers', () => {
    expect(parseSignal('TERM')).toBe(15);
    expect(parseSignal('SIGKILL')).toBe(9);
    expect(parseSignal('sigint')).toBe(2);
    expect(parseSignal('15')).toBe(15);
    expect(parseSignal('NOPE')).toBeUndefined();
    expect(parseSignal('0')).toBeUndefined();
  });
  test('Docker exit codes', () => {
    expect(dockerExitCode(3, null)).toBe(3);
    expect(dockerExitCode(null, 'SIGTERM')).toBe(143);
    expect(dockerExitCode(null, 9)).toBe(137);
  });
});
