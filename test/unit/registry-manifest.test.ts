import { mapWithConcurrency } from '../../src/portlayer/storage/registry/concurrency';
import {
  DigestMismatchError,
  DigestVerifier,
  parseDigest,
  sha256Digest,
} from '../../src/portlayer/storage/registry/digest';
import { MediaTypes, parseManifest } from '../../src/portlayer/storage/registry/manifest-types';
import { buildLayer, opaqueMarkerPath, whiteoutPath } from '../../src/simulator/registry/layer-tar';

const D = `sha256:${'b'.repeat(64)}`;

describe('parseManifest', () => {
  test('schema2, OCI without mediaType (from Content-Type), list, index', () => {
    const m = { schemaVersion: 2, config: { mediaType: 'x', digest: D, size: 1 }, layers: [] };
    expect(parseManifest(Buffer.from(JSON.stringify({ ...m, mediaType: MediaTypes.dockerManifest }))).mediaType).toBe(
      MediaTypes.dockerManifest,
    );
    expect(parseManifest(Buffer.from(JSON.stringify(m)), `${MediaTypes.ociManifest}; charset=utf-8`)).toMatchObject({
      kind: 'manifest',
      mediaType: MediaTypes.ociManifest,
    });
    const list = { schemaVersion: 2, mediaType: MediaTypes.dockerManifestList, manifests: [] };
    expect(parseManifest(Buffer.from(JSON.stringify(list))).kind).toBe('index');
    expect(parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] }))).mediaType).toBe(
      MediaTypes.ociIndex,
    );
  });

  test('rejects schema 1, bad digests and sizes', () => {
    expect(() => parseManifest(Buffer.from('{"schemaVersion":1}'))).toThrow(/schema 1/);
    const bad = { schemaVersion: 2, config: { mediaType: 'x', digest: 'nope', size: 1 }, layers: [] };
    expect(() => parseManifest(Buffer.from(JSON.stringify(bad)))).toThrow(/digest/);
    const neg = { schemaVersion: 2, config: { mediaType: 'x', digest: D, size: -1 }, layers: [] };
    expect(() => parseManifest(Buffer.from(JSON.stringify(neg)))).toThrow(/size/);
  });
});

describe('digests', () => {
  test('verifies streamed bytes and names expected and actual on mismatch', () => {
    const digest = sha256Digest('hello');
    const ok = new DigestVerifier(digest, 'blob');
    ok.update(Buffer.from('hel'));
    ok.update(Buffer.from('lo'));
    expect(ok.verify()).toBe(digest);
    const bad = new DigestVerifier(digest, 'blob');
    bad.update(Buffer.from('hellO'));
    expect(() => bad.verify()).toThrow(DigestMismatchError);
    expect(() => parseDigest('md5:abc')).toThrow(/unsupported/);
  });
});

describe('mapWithConcurrency', () => {
  test('keeps order and never exceeds the limit', async () => {
    let running = 0;
    let max = 0;
    const out = await mapWithConcurrency([5, 1, 4, 2, 3], 3, async (n) => {
      running++;
      max = Math.max(max, running);
      await new Promise((r) => setTimeout(r, n * 2));
      running--;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30]);
    expect(max).toBe(3);
  });

  test('stops starting work after a failure and rejects with it', async () => {
    const started: number[] = [];
    const result = mapWithConcurrency([1, 2, 3, 4, 5], 2, async (n) => {
      started.push(n);
      if (n === 1) throw new Error('first failed');
      await new Promise((r) => setTimeout(r, 5));
      return n;
    });
    await expect(result).rejects.toThrow('first failed');
    expect(started).toEqual([1, 2]);
  });
});

describe('test layers', () => {
  test('are reproducible and use OCI whiteout names', async () => {
    const entries = [{ type: 'file' as const, path: 'a/b.txt', content: 'x' }];
    const one = await buildLayer(entries);
    const two = await buildLayer(entries);
    expect(one.digest).toBe(two.digest);
    expect(one.diffId).not.toBe(one.digest);
    expect(whiteoutPath('data/gone.txt')).toBe('data/.wh.gone.txt');
    expect(whiteoutPath('top')).toBe('.wh.top');
    expect(opaqueMarkerPath('data/opaque/')).toBe('data/opaque/.wh..wh..opq');
  });
});
