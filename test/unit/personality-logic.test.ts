import { toHttpFailure } from '../../src/personality/errors';
import { globToRegExp, matchesLabels, parseFilters, parseTimestamp } from '../../src/personality/filters';
import { filterImageList, prunePredicate } from '../../src/personality/images/image-filters';
import { humanSize, progressBar, progressMessage } from '../../src/personality/progress';
import { pullReference, renderPullEvent } from '../../src/personality/routes/images';
import { checkApiVersion, compareApiVersions, splitVersionPrefix } from '../../src/personality/versioning';
import {
  ConflictError,
  type ImageSummary,
  InvalidParameterError,
  NotFoundError,
  NotImplementedError,
} from '../../src/portlayer/api';

describe('API versions', () => {
  it('compares numerically, not as strings', () => {
    expect(compareApiVersions('1.9', '1.24')).toBe(-1);
    expect(compareApiVersions('1.41', '1.41')).toBe(0);
    expect(compareApiVersions('1.51', '1.5')).toBe(1);
  });

  it("rejects versions outside the range with dockerd's messages", () => {
    expect(() => checkApiVersion('1.12')).toThrow(
      'client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version',
    );
    expect(() => checkApiVersion('1.52')).toThrow(
      'client version 1.52 is too new. Maximum supported API version is 1.51',
    );
    expect(() => checkApiVersion('1.24')).not.toThrow();
    expect(() => checkApiVersion('1.51')).not.toThrow();
  });

  it('splits the prefix off and keeps the query', () => {
    expect(splitVersionPrefix('/v1.41/images/json?all=1')).toEqual({ version: '1.41', rest: '/images/json?all=1' });
    expect(splitVersionPrefix('/v1.50')).toEqual({ version: '1.50', rest: '/' });
    expect(splitVersionPrefix('/images/json')).toEqual({ rest: '/images/json' });
    expect(splitVersionPrefix('/vfoo/images/json')).toEqual({ rest: '/vfoo/images/json' });
  });
});

describe('errors', () => {
  it('maps each kind to its status and keeps the message', () => {
    expect(toHttpFailure(new NotFoundError('image', 'x:latest'))).toEqual({
      status: 404,
      message: 'No such image: x:latest',
    });
    expect(toHttpFailure(new ConflictError('in use')).status).toBe(409);
    expect(toHttpFailure(new InvalidParameterError('bad')).status).toBe(400);
    expect(toHttpFailure(new NotImplementedError('no')).status).toBe(501);
    expect(toHttpFailure(new Error('boom'))).toEqual({ status: 500, message: 'boom' });
  });

  it("maps body-parser's errors", () => {
    expect(toHttpFailure({ status: 400, type: 'entity.parse.failed', message: 'Unexpected token' }).message).toBe(
      'invalid JSON in request body: Unexpected token',
    );
    expect(toHttpFailure({ status: 413, type: 'entity.too.large', message: 'x' }).status).toBe(413);
  });
});

describe('filters', () => {
  it('parses the map-of-bools form and the legacy array form alike', () => {
    const current = parseFilters('{"label":{"a=b":true,"c":true,"off":false},"dangling":{"true":true}}');
    expect(current.get('label').sort()).toEqual(['a=b', 'c']);
    expect(current.getBool('dangling')).toBe(true);
    const legacy = parseFilters('{"label":["a=b","c"],"dangling":["false"]}');
    expect(legacy.get('label').sort()).toEqual(['a=b', 'c']);
    expect(legacy.getBool('dangling')).toBe(false);
    expect(parseFilters(undefined).keys()).toEqual([]);
    expect(parseFilters('').keys()).toEqual([]);
  });

  it('rejects malformed filters and unknown keys as invalid parameters', () => {
    expect(() => parseFilters('{nope')).toThrow(InvalidParameterError);
    expect(() => parseFilters('[1]')).toThrow(InvalidParameterError);
    expect(() => parseFilters('{"label":[1]}')).toThrow(InvalidParameterError);
    expect(() => parseFilters('{"bogus":["x"]}').validate(['label'])).toThrow("invalid filter 'bogus'");
    expect(() => parseFilters('{"dangling":["maybe"]}').getBool('dangling')).toThrow("invalid filter 'dangling=maybe'");
  });

  it('matches labels by key or key=value, all of them', () => {
    expect(matchesLabels(['a', 'b=2'], { a: '1', b: '2' })).toBe(true);
    expect(matchesLabels(['a', 'b=3'], { a: '1', b: '2' })).toBe(false);
    expect(matchesLabels(['z'], { a: '1' })).toBe(false);
  });

  it("globs like Go's path.Match", () => {
    expect(globToRegExp('busy*').test('busybox')).toBe(true);
    expect(globToRegExp('*').test('foo/bar')).toBe(false);
    expect(globToRegExp('foo/*').test('foo/bar')).toBe(true);
    expect(globToRegExp('b[a-u]sybox').test('busybox')).toBe(true);
    expect(globToRegExp('a.b').test('axb')).toBe(false);
  });

  it('reads durations, Unix seconds and dates', () => {
    const now = new Date('2025-01-02T00:00:00Z');
    expect(parseTimestamp('24h', now).toISOString()).toBe('2025-01-01T00:00:00.000Z');
    expect(parseTimestamp('1h30m', now).toISOString()).toBe('2025-01-01T22:30:00.000Z');
    expect(parseTimestamp('1700000000', now).getTime()).toBe(1_700_000_000_000);
    expect(parseTimestamp('2024-05-01T00:00:00Z', now).toISOString()).toBe('2024-05-01T00:00:00.000Z');
    expect(() => parseTimestamp('yesterday', now)).toThrow(InvalidParameterError);
  });
});

const image = (over: Partial<ImageSummary>): ImageSummary => ({
  id: 'sha256:aaaa',
  parentId: '',
  repoTags: [],
  repoDigests: [],
  created: new Date('2024-01-01T00:00:00Z'),
  size: 1,
  labels: {},
  containers: 0,
  ...over,
});

describe('image filters', () => {
  const busybox = image({ id: 'sha256:b', repoTags: ['busybox:latest', 'busybox:1'], labels: { tier: 'base' } });
  const registry = image({
    id: 'sha256:r',
    repoTags: ['127.0.0.1:5000/foo/bar:tag'],
    created: new Date('2024-06-01T00:00:00Z'),
  });
  const dangling = image({ id: 'sha256:d', created: new Date('2023-01-01T00:00:00Z') });
  const all = [busybox, registry, dangling];
  const ctx = { createdOf: async () => new Date('2024-03-01T00:00:00Z') };

  it('matches references by familiar name or full reference, narrowing RepoTags', async () => {
    const byName = await filterImageList(all, parseFilters('{"reference":{"busybox":true}}'), ctx);
    expect(byName.map((i) => i.id)).toEqual(['sha256:b']);
    const byTag = await filterImageList(all, parseFilters('{"reference":["busybox:1"]}'), ctx);
    expect(byTag[0]!.repoTags).toEqual(['busybox:1']);
    const byRegistry = await filterImageList(all, parseFilters('{"reference":["127.0.0.1:5000/foo/*"]}'), ctx);
    expect(byRegistry.map((i) => i.id)).toEqual(['sha256:r']);
  });

  it('filters dangling, label, before and since', async () => {
    const ids = async (f: string) => (await filterImageList(all, parseFilters(f), ctx)).map((i) => i.id);
    expect(await ids('{"dangling":["true"]}')).toEqual(['sha256:d']);
    expect(await ids('{"dangling":["false"]}')).toEqual(['sha256:b', 'sha256:r']);
    expect(await ids('{"label":["tier=base"]}')).toEqual(['sha256:b']);
    expect(await ids('{"before":["x"]}')).toEqual(['sha256:b', 'sha256:d']);
    expect(await ids('{"since":["x"]}')).toEqual(['sha256:r']);
    await expect(ids('{"nope":["x"]}')).rejects.toThrow("invalid filter 'nope'");
  });

  it('prunes dangling images only unless dangling=false', () => {
    expect(all.filter(prunePredicate(parseFilters(''))).map((i) => i.id)).toEqual(['sha256:d']);
    expect(all.filter(prunePredicate(parseFilters('{"dangling":["false"]}'))).length).toBe(3);
    const until = prunePredicate(parseFilters('{"dangling":["false"],"until":["2024-03-01T00:00:00Z"]}'));
    expect(all.filter(until).map((i) => i.id)).toEqual(['sha256:b', 'sha256:d']);
    expect(() => prunePredicate(parseFilters('{"reference":["x"]}'))).toThrow(InvalidParameterError);
  });
});

describe('progress messages', () => {
  it("sizes like go-units' HumanSize", () => {
    expect(humanSize(0)).toBe('0B');
    expect(humanSize(999)).toBe('999B');
    expect(humanSize(1000)).toBe('1kB');
    expect(humanSize(1_234_567)).toBe('1.235MB');
    expect(humanSize(2_200_000)).toBe('2.2MB');
  });

  it('draws the bar dockerd sends', () => {
    expect(progressBar(0, 0)).toBe('');
    expect(progressBar(500, 1000)).toBe(`[${'='.repeat(25)}>${' '.repeat(25)}] ${'500B'.padStart(8)}/1kB`);
    expect(progressBar(1000, 1000)).toBe(`[${'='.repeat(50)}>] ${'1kB'.padStart(8)}/1kB`);
    expect(progressBar(2000, 1000)).toBe(`[${'='.repeat(50)}>] ${'2kB'.padStart(8)}`);
    expect(progressBar(1500, 0)).toBe('   1.5kB');
  });

  it('renders port-layer pull events in Docker order and shape', () => {
    expect(renderPullEvent({ type: 'pulling-from', tag: 'latest', repository: 'library/busybox' })).toEqual({
      status: 'Pulling from library/busybox',
      id: 'latest',
    });
    expect(renderPullEvent({ type: 'layer', layer: 'abc', status: 'Pull complete' })).toEqual({
      status: 'Pull complete',
      progressDetail: {},
      id: 'abc',
    });
    expect(progressMessage('abc', 'Downloading', 1, 2)).toEqual({
      status: 'Downloading',
      progressDetail: { current: 1, total: 2 },
      progress: progressBar(1, 2),
      id: 'abc',
    });
    expect(renderPullEvent({ type: 'digest', digest: 'sha256:x' })).toEqual({ status: 'Digest: sha256:x' });
    expect(renderPullEvent({ type: 'status', upToDate: true, reference: 'busybox:latest' })).toEqual({
      status: 'Status: Image is up to date for busybox:latest',
    });
  });
});

describe('pull references', () => {
  it('applies the tag query as dockerd does', () => {
    expect(pullReference('busybox', 'latest')).toBe('docker.io/library/busybox:latest');
    expect(pullReference('docker.io/library/busybox', '1.36')).toBe('docker.io/library/busybox:1.36');
    expect(pullReference('busybox:1', undefined)).toBe('docker.io/library/busybox:1');
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(pullReference('127.0.0.1:5000/foo/bar', digest)).toBe(`127.0.0.1:5000/foo/bar@${digest}`);
    expect(() => pullReference('UPPER', 'x')).toThrow(InvalidParameterError);
  });
});
