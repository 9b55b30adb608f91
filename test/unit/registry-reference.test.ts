import {
  familiarReference,
  formatReference,
  InvalidReferenceError,
  manifestReference,
  parseReference,
  registryApiHost,
} from '../../src/portlayer/storage/registry/reference';

const DIGEST = `sha256:${'a'.repeat(64)}`;

describe('parseReference normalises like Docker', () => {
  test.each([
    ['busybox', { domain: 'docker.io', path: 'library/busybox', tag: 'latest' }],
    ['busybox:1.36', { domain: 'docker.io', path: 'library/busybox', tag: '1.36' }],
    ['library/busybox', { domain: 'docker.io', path: 'library/busybox', tag: 'latest' }],
    ['docker.io/busybox', { domain: 'docker.io', path: 'library/busybox', tag: 'latest' }],
    ['index.docker.io/library/busybox', { domain: 'docker.io', path: 'library/busybox', tag: 'latest' }],
    ['user/app', { domain: 'docker.io', path: 'user/app', tag: 'latest' }],
    ['host:5000/x/y:tag', { domain: 'host:5000', path: 'x/y', tag: 'tag' }],
    ['localhost/app', { domain: 'localhost', path: 'app', tag: 'latest' }],
    ['127.0.0.1:5000/app', { domain: '127.0.0.1:5000', path: 'app', tag: 'latest' }],
    ['[::1]:5000/app:v1', { domain: '[::1]:5000', path: 'app', tag: 'v1' }],
    ['registry.example.com/a/b/c', { domain: 'registry.example.com', path: 'a/b/c', tag: 'latest' }],
    [`busybox@${DIGEST}`, { domain: 'docker.io', path: 'library/busybox', digest: DIGEST }],
    [`host:5000/x:tag@${DIGEST}`, { domain: 'host:5000', path: 'x', tag: 'tag', digest: DIGEST }],
    ['a_b-c__d/f--g.h', { domain: 'docker.io', path: 'a_b-c__d/f--g.h', tag: 'latest' }],
    ['a.b/c', { domain: 'a.b', path: 'c', tag: 'latest' }],
  ])('%s', (input, expected) => {
    expect(parseReference(input)).toEqual(expected);
  });

  test.each([
    ['', /at least one component/],
    ['Busybox', /must be lowercase/],
    ['busybox:', /invalid tag/],
    ['busybox:-x', /invalid tag/],
    [`busybox:${'t'.repeat(129)}`, /invalid tag/],
    ['busybox@sha256:abc', /invalid/],
    ['a//b', /invalid repository name/],
    ['-app', /invalid repository name/],
    ['host:5000/', /at least one component/],
    ['host:port/x', /invalid registry host/],
    ['a'.repeat(64), /64-byte hexadecimal/],
    [`registry.example.com/${'a'.repeat(260)}`, /255 characters/],
  ])('rejects %j', (input, message) => {
    expect(() => parseReference(input)).toThrow(InvalidReferenceError);
    expect(() => parseReference(input)).toThrow(message);
  });

  test('formats canonical and familiar forms', () => {
    const hub = parseReference('busybox');
    expect(formatReference(hub)).toBe('docker.io/library/busybox:latest');
    expect(familiarReference(hub)).toBe('busybox:latest');
    expect(familiarReference(parseReference('user/app:1'))).toBe('user/app:1');
    const pinned = parseReference(`host:5000/x@${DIGEST}`);
    expect(formatReference(pinned)).toBe(`host:5000/x@${DIGEST}`);
    expect(familiarReference(pinned)).toBe(`host:5000/x@${DIGEST}`);
  });

  test('asks the registry for the digest when pinned, else the tag', () => {
    expect(manifestReference(parseReference(`x:tag@${DIGEST}`))).toBe(DIGEST);
    expect(manifestReference(parseReference('x:tag'))).toBe('tag');
    expect(registryApiHost('docker.io')).toBe('registry-1.docker.io');
    expect(registryApiHost('host:5000')).toBe('host:5000');
  });
});
