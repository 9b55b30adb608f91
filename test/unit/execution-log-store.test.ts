/**
 * Container output on the datastore: the record and segment format, the ring of segment
 * files, and the store's flush policy against an in-memory datastore.
 */
import {
  appendRecords,
  decodeSegment,
  encodeRecord,
  type LogRecord,
  MAX_SEGMENTS,
  newSegment,
  notPersisted,
  orderRecords,
  resumeAt,
  SEGMENT_BYTES,
  segmentBytes,
  slotOf,
} from '../../src/portlayer/execution/log-format';
import { ContainerLogStore, FLUSH_INTERVAL_MS, logFileName } from '../../src/portlayer/execution/log-store';
import type { LogChunk } from '../../src/portlayer/execution/main-session';
import type { ImageDatastore } from '../../src/portlayer/storage/images/image-datastore';

const RUN_A = '0123456789abcdef';
const RUN_B = 'fedcba9876543210';

function record(seq: number, text: string | Buffer, stream: 1 | 2 = 1, run = RUN_A): LogRecord {
  return { run, seq, stream, time: new Date(1_700_000_000_000 + seq), data: Buffer.from(text) };
}

function chunk(seq: number, text: string, stream: 1 | 2 = 1): LogChunk {
  return { seq, stream, time: new Date(1_700_000_000_000 + seq), data: Buffer.from(text) };
}

function segmentOf(number: number, records: readonly LogRecord[]): Buffer {
  return segmentBytes(appendRecords(newSegment(number), records.map(encodeRecord), Number.MAX_SAFE_INTEGER).current);
}

describe('record and segment format', () => {
  it('round-trips binary data, streams, times, runs and sequence numbers', () => {
    const binary = Buffer.from([0, 1, 2, 255, 10, 13, 0]);
    const records = [record(0, 'out\n'), record(1, binary, 2), record(7, '', 1, RUN_B)];
    const decoded = decodeSegment(segmentOf(3, records));
    expect(decoded?.number).toBe(3);
    expect(decoded?.records).toEqual(records);
  });

  it('is not fooled by a file that is not a segment', () => {
    expect(decodeSegment(Buffer.from('hello, this is not a log segment'))).toBeUndefined();
    expect(decodeSegment(Buffer.alloc(0))).toBeUndefined();
  });

  it('keeps the whole records of a file cut short, and says where they end', () => {
    const whole = segmentOf(0, [record(0, 'first\n'), record(1, 'second\n')]);
    const cut = whole.subarray(0, whole.length - 3);
    const decoded = decodeSegment(cut);
    expect(decoded?.records.map((r) => r.data.toString())).toEqual(['first\n']);
    expect(decoded?.validBytes).toBe(whole.length - encodeRecord(record(1, 'second\n')).length);
  });

  it('refuses a run id that is not 8 bytes of hex', () => {
    expect(() => encodeRecord(record(0, 'x', 1, 'abc'))).toThrow('run id');
  });
});

describe('segments', () => {
  it('closes a segment that would pass the limit and goes on in the next number', () => {
    const r = encodeRecord(record(0, 'x'.repeat(100)));
    const limit = newSegment(0).bytes + 2 * r.length;
    const { closed, current } = appendRecords(newSegment(5), [r, r, r, r, r], limit);
    expect(closed.map((s) => s.number)).toEqual([5, 6]);
    expect(closed.every((s) => s.bytes <= limit)).toBe(true);
    expect(current.number).toBe(7);
    expect(decodeSegment(segmentBytes(current))?.records).toHaveLength(1);
  });

  it('puts a record larger than the limit alone in a segment', () => {
    const big = encodeRecord(record(0, 'y'.repeat(500)));
    const { closed, current } = appendRecords(newSegment(0), [big, big], 100);
    expect(closed).toHaveLength(1);
    expect(decodeSegment(segmentBytes(closed[0]!))?.records).toHaveLength(1);
    expect(current.number).toBe(1);
  });

  it('maps segment numbers onto a ring of slots', () => {
    expect([0, 1, MAX_SEGMENTS, MAX_SEGMENTS + 1].map(slotOf)).toEqual([0, 1, 0, 1]);
  });

  it('resumes in the newest segment with room, else after it', () => {
    expect(resumeAt([]).number).toBe(0);
    const small = segmentOf(4, [record(0, 'a')]);
    const older = segmentOf(3, [record(0, 'b')]);
    const found = [small, older].map((buf) => ({ buf, decoded: decodeSegment(buf)! }));
    const resumed = resumeAt(found);
    expect(resumed.number).toBe(4);
    expect(segmentBytes(resumed).equals(small)).toBe(true);
    expect(resumeAt(found, small.length).number).toBe(5);
  });

  it('orders segments by number and drops one left from before the ring', () => {
    const segs = [6, 3, 5, 4, 1].map((n) => decodeSegment(segmentOf(n, [record(n, `seg ${n}`)]))!);
    expect(orderRecords(segs).map((r) => r.data.toString())).toEqual(['seg 3', 'seg 4', 'seg 5', 'seg 6']);
  });

  it("tells which of the live run's chunks are not persisted", () => {
    const persisted = [record(0, 'a', 1, RUN_B), record(1, 'b', 1, RUN_B), record(0, 'c'), record(1, 'd')];
    const live = [chunk(1, 'd'), chunk(2, 'e'), chunk(3, 'f')];
    expect(notPersisted(persisted, RUN_A, live).map((c) => c.data.toString())).toEqual(['e', 'f']);
    expect(notPersisted(persisted, '1111111111111111', live)).toEqual(live);
  });
});

/** A datastore in memory, counting writes; `failing` makes every call throw. */
class MemoryDatastore implements ImageDatastore {
  readonly files = new Map<string, Buffer>();
  writes = 0;
  failing = false;
  datastorePath(path: string): string {
    return `[ds] ${path}`;
  }
  async readFile(path: string): Promise<Buffer | undefined> {
    this.check();
    return this.files.get(path);
  }
  async writeFile(path: string, data: Buffer): Promise<void> {
    this.check();
    this.writes++;
    this.files.set(path, Buffer.from(data));
  }
  async uploadFile(): Promise<void> {
    throw new Error('not used');
  }
  async makeDirectory(): Promise<void> {}
  async move(): Promise<boolean> {
    throw new Error('not used');
  }
  async delete(path: string): Promise<void> {
    this.check();
    this.files.delete(path);
  }
  private check(): void {
    if (this.failing) throw new Error('datastore unavailable');
  }
}

function storeOn(ds: ImageDatastore, messages: string[] = []): ContainerLogStore {
  return new ContainerLogStore({
    files: ds,
    folder: async () => 'web-0123456789ab',
    label: 'web',
    log: (m) => messages.push(m),
  });
}

const text = (records: readonly LogRecord[]): string => records.map((r) => r.data.toString()).join('');

describe('ContainerLogStore', () => {
  afterEach(() => jest.useRealTimers());

  it('batches output into one write a second, and writes at once when the run ends', async () => {
    jest.useFakeTimers();
    const ds = new MemoryDatastore();
    const store = storeOn(ds);
    store.kept(RUN_A, chunk(0, 'one\n'));
    store.kept(RUN_A, chunk(1, 'two\n', 2));
    expect(ds.writes).toBe(0);
    await jest.advanceTimersByTimeAsync(FLUSH_INTERVAL_MS);
    expect(ds.writes).toBe(1);
    expect([...ds.files.keys()]).toEqual([`web-0123456789ab/${logFileName(0)}`]);
    store.kept(RUN_A, chunk(2, 'three\n'));
    store.ended();
    await store.flush();
    expect(ds.writes).toBe(2);
    const records = await store.read();
    expect(text(records)).toBe('one\ntwo\nthree\n');
    expect(records.map((r) => r.stream)).toEqual([1, 2, 1]);
  });

  it('keeps every run, and a new VCH goes on after what an earlier one wrote', async () => {
    const ds = new MemoryDatastore();
    const first = storeOn(ds);
    first.kept(RUN_A, chunk(0, 'run a\n'));
    first.ended();
    await first.flush();
    const second = storeOn(ds); // another VCH process: nothing in memory
    second.kept(RUN_B, chunk(0, 'run b\n'));
    await second.flush();
    expect(ds.files.size).toBe(1); // appended to the same segment
    expect(text(await storeOn(ds).read())).toBe('run a\nrun b\n');
  });

  it('rotates through the ring and keeps the newest segments only', async () => {
    const ds = new MemoryDatastore();
    const store = storeOn(ds);
    const piece = 'z'.repeat(64 * 1024 - 1);
    const total = (MAX_SEGMENTS + 2) * 4;
    for (let i = 0; i < total; i++) {
      store.kept(RUN_A, chunk(i, `${piece}${i % 10}`));
      if (i % 3 === 0) await store.flush();
    }
    await store.flush();
    expect(ds.files.size).toBe(MAX_SEGMENTS);
    for (const f of ds.files.values()) expect(f.length).toBeLessThanOrEqual(SEGMENT_BYTES);
    const records = await store.read();
    const seqs = records.map((r) => r.seq);
    expect(seqs[seqs.length - 1]).toBe(total - 1);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(records.length).toBeGreaterThanOrEqual((MAX_SEGMENTS - 1) * 3);
  });

  it('logs a failing datastore instead of throwing, and writes once it is back', async () => {
    const ds = new MemoryDatastore();
    const messages: string[] = [];
    const store = storeOn(ds, messages);
    ds.failing = true;
    store.kept(RUN_A, chunk(0, 'kept\n'));
    await store.flush();
    expect(messages.some((m) => m.includes('datastore unavailable'))).toBe(true);
    expect(await store.read()).toEqual([]);
    ds.failing = false;
    await store.flush();
    expect(text(await store.read())).toBe('kept\n');
  });

  it('writes nothing once stopped, and deletes its files', async () => {
    const ds = new MemoryDatastore();
    const store = storeOn(ds);
    store.kept(RUN_A, chunk(0, 'a\n'));
    await store.flush();
    store.kept(RUN_A, chunk(1, 'b\n'));
    await store.stop();
    await store.flush();
    expect(text(await store.read())).toBe('a\n');
    await store.deleteFiles();
    expect(ds.files.size).toBe(0);
  });
});
