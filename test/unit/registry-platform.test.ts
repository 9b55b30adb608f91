import {
  type ImageIndex,
  MediaTypes,
  type PlatformDescriptor,
} from '../../src/portlayer/storage/registry/manifest-types';
import {
  formatPlatform,
  normalizePlatform,
  PlatformNotFoundError,
  parsePlatform,
  selectPlatform,
} from '../../src/portlayer/storage/registry/platform';

function entry(digestChar: string, platform?: PlatformDescriptor['platform']): PlatformDescriptor {
  return {
    mediaType: MediaTypes.ociManifest,
    digest: `sha256:${digestChar.repeat(64)}`,
    size: 100,
    ...(platform ? { platform } : {}),
  };
}

function index(...manifests: PlatformDescriptor[]): ImageIndex {
  return { kind: 'index', schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests };
}

describe('selectPlatform', () => {
  const typical = index(
    entry('1', { os: 'linux', architecture: 'arm', variant: 'v7' }),
    entry('2', { os: 'linux', architecture: 'arm64', variant: 'v8' }),
    entry('3', { os: 'linux', architecture: 'amd64' }),
    entry('4', { os: 'unknown', architecture: 'unknown' }),
    entry('5'),
  );

  test('chooses linux/amd64 by default, wherever it is in the list', () => {
    expect(selectPlatform(typical).digest).toBe(`sha256:${'3'.repeat(64)}`);
  });

  test('arm64 with and without v8; arm with its variant', () => {
    expect(selectPlatform(typical, { os: 'linux', architecture: 'arm64' }).digest).toMatch(/2{64}$/);
    expect(selectPlatform(typical, parsePlatform('linux/arm64/v8')).digest).toMatch(/2{64}$/);
    expect(selectPlatform(typical, parsePlatform('linux/arm/v7')).digest).toMatch(/1{64}$/);
    expect(() => selectPlatform(typical, parsePlatform('linux/arm/v6'))).toThrow(PlatformNotFoundError);
  });

  test('prefers an entry without a variant when none is asked for', () => {
    const idx = index(
      entry('a', { os: 'linux', architecture: 'amd64', variant: 'v3' }),
      entry('b', { os: 'linux', architecture: 'amd64' }),
    );
    expect(selectPlatform(idx).digest).toMatch(/b{64}$/);
    expect(selectPlatform(index(entry('a', { os: 'linux', architecture: 'amd64', variant: 'v3' }))).digest).toMatch(
      /a{64}$/,
    );
  });

  test('normalises x86_64 and aarch64', () => {
    const idx = index(entry('c', { os: 'Linux', architecture: 'x86_64' }));
    expect(selectPlatform(idx).digest).toMatch(/c{64}$/);
    expect(normalizePlatform({ os: 'linux', architecture: 'aarch64', variant: 'v8' })).toEqual({
      os: 'linux',
      architecture: 'arm64',
    });
  });

  test("no linux/amd64: Docker's message, with what there is", () => {
    const idx = index(entry('2', { os: 'linux', architecture: 'arm64', variant: 'v8' }), entry('9'));
    let error: unknown;
    try {
      selectPlatform(idx);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PlatformNotFoundError);
    expect((error as Error).message).toBe(
      'no matching manifest for linux/amd64 in the manifest list entries (available: linux/arm64/v8)',
    );
    expect((error as PlatformNotFoundError).available).toEqual([{ os: 'linux', architecture: 'arm64', variant: 'v8' }]);
  });

  test('formats and parses platforms', () => {
    expect(formatPlatform({ os: 'linux', architecture: 'arm', variant: 'v7' })).toBe('linux/arm/v7');
    expect(() => parsePlatform('linux')).toThrow(/os\/arch/);
  });
});
