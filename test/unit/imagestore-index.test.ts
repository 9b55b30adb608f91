/** The image index: lookups as Docker does them, tags, and layer reference counting. */
import {
  AmbiguousImageError,
  ImageIndex,
  ImageNotFoundError,
  type StoredImage,
} from '../../src/portlayer/storage/images/image-index';
import { digestHex, ImageStoreLayout } from '../../src/portlayer/storage/images/layout';
import { throttleProgress } from '../../src/portlayer/storage/images/progress';

const d = (c: string): string => `sha256:${c.repeat(64)}`;

function image(id: string, layers: string[], manifest = d('f')): StoredImage {
  return {
    id,
    manifestDigest: manifest,
    manifestMediaType: 'application/vnd.oci.image.manifest.v1+json',
    repoDigests: [`docker.io/library/x@${manifest}`],
    layers: layers.map((l) => ({ digest: l, diffId: l, mediaType: 'x', size: 1, tarSize: 2 })),
    architecture: 'amd64',
    os: 'linux',
  };
}

describe('ImageIndex', () => {
  let index: ImageIndex;
  const busybox = `sha256:ab${'1'.repeat(62)}`;
  const app = `sha256:ac${'2'.repeat(62)}`;
  beforeEach(() => {
    index = new ImageIndex();
    index.put(image(busybox, [d('a')]));
    index.put(image(app, [d('a'), d('b')], d('e')));
    index.tag('busybox', busybox);
    index.tag('localhost:5000/app:1', app);
  });

  test('tags are kept canonical and found by any spelling', () => {
    expect(index.tagsOf(busybox)).toEqual(['docker.io/library/busybox:latest']);
    expect(index.lookup('docker.io/library/busybox:latest').id).toBe(busybox);
    expect(index.lookup('busybox').id).toBe(busybox);
    expect(index.lookup('localhost:5000/app:1').id).toBe(app);
    expect(() => index.lookup('localhost:5000/app')).toThrow(ImageNotFoundError);
  });

  test('by full ID, unique prefix and repo digest; ambiguous prefixes refused', () => {
    expect(index.lookup(busybox).id).toBe(busybox);
    expect(index.lookup(busybox.slice(7)).id).toBe(busybox);
    expect(index.lookup('ab1').id).toBe(busybox);
    expect(() => index.lookup('a')).toThrow(AmbiguousImageError);
    expect(index.lookup(`x@${d('e')}`).id).toBe(app);
    expect(() => index.lookup('nothing')).toThrow('No such image: nothing');
  });

  test('retagging moves the tag and reports where it pointed', () => {
    expect(index.tag('busybox:latest', app)).toBe(busybox);
    expect(index.tag('busybox:latest', app)).toBeUndefined();
    expect(index.untag('busybox')).toBe(app);
    expect(() => index.untag('busybox')).toThrow(ImageNotFoundError);
  });

  test('removing an image frees only the layers no other image uses', () => {
    expect(index.remove(app)).toEqual([d('b')]);
    expect(index.tagsOf(app)).toEqual([]);
    expect(index.remove(busybox)).toEqual([d('a')]);
    expect(index.list()).toEqual([]);
  });

  test('survives a round trip through its JSON document', () => {
    const again = ImageIndex.parse(JSON.stringify(index.toDocument()));
    expect(again.lookup('busybox').id).toBe(busybox);
    expect(again.layersInUse()).toEqual(new Set([d('a'), d('b')]));
    expect(() => ImageIndex.parse('{"version":2}')).toThrow(/unknown format/);
  });

  test('repo digests merge when an image is pulled by another name', () => {
    index.put({ ...image(busybox, [d('a')], d('9')), repoDigests: [`docker.io/library/y@${d('9')}`] });
    expect(index.get(busybox)!.repoDigests).toHaveLength(2);
  });
});

describe('layout and progress helpers', () => {
  test('paths under the VCH folder', () => {
    const l = new ImageStoreLayout('my-vch');
    expect(l.index).toBe('my-vch/images/index.json');
    expect(l.layerDescriptor(d('a'))).toBe(`my-vch/images/layers/${'a'.repeat(64)}/layer.vmdk`);
    expect(l.manifest(d('b'))).toBe(`my-vch/images/manifests/${'b'.repeat(64)}.json`);
    expect(() => digestHex('md5:x')).toThrow(RangeError);
  });

  test('byte progress is throttled but the last value always passes', () => {
    let now = 0;
    const seen: number[] = [];
    const p = throttleProgress(
      (c) => seen.push(c),
      100,
      () => now,
    );
    p(1, 10);
    now = 50;
    p(2, 10);
    now = 150;
    p(3, 10);
    p(10, 10);
    expect(seen).toEqual([1, 3, 10]);
  });
});
