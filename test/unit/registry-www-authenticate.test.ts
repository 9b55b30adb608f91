import { parseWwwAuthenticate } from '../../src/portlayer/storage/registry/www-authenticate';

describe('parseWwwAuthenticate', () => {
  test("Docker Hub's bearer challenge", () => {
    expect(
      parseWwwAuthenticate(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
      ),
    ).toEqual([
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.docker.io/token',
          service: 'registry.docker.io',
          scope: 'repository:library/busybox:pull',
        },
      },
    ]);
  });

  test('docker-registry token auth with an error and a multi-action scope', () => {
    const [c] = parseWwwAuthenticate(
      'Bearer realm="http://127.0.0.1:1/token",service="svc",scope="repository:a/b:pull,push",error="insufficient_scope"',
    );
    expect(c?.params.scope).toBe('repository:a/b:pull,push');
    expect(c?.params.error).toBe('insufficient_scope');
  });

  test('basic, case-insensitive scheme and names, unquoted values, spaces', () => {
    expect(parseWwwAuthenticate('basic Realm = basic-realm')).toEqual([
      { scheme: 'basic', params: { realm: 'basic-realm' } },
    ]);
  });

  test('escaped quotes and commas inside quoted values', () => {
    const [c] = parseWwwAuthenticate('Bearer realm="a\\"b,c", service=x');
    expect(c?.params).toEqual({ realm: 'a"b,c', service: 'x' });
  });

  test('several challenges in one header and in several headers', () => {
    const one = parseWwwAuthenticate('Basic realm="r1", Bearer realm="r2",service="s"');
    expect(one.map((c) => c.scheme)).toEqual(['basic', 'bearer']);
    expect(one[1]?.params).toEqual({ realm: 'r2', service: 's' });
    const many = parseWwwAuthenticate(['Basic realm="r1"', 'Bearer realm="r2"']);
    expect(many.map((c) => c.params.realm)).toEqual(['r1', 'r2']);
  });

  test('token68 and empty input', () => {
    expect(parseWwwAuthenticate('Negotiate abc123==')).toEqual([
      { scheme: 'negotiate', params: { token68: 'abc123==' } },
    ]);
    expect(parseWwwAuthenticate(undefined)).toEqual([]);
    expect(parseWwwAuthenticate('')).toEqual([]);
  });
});
