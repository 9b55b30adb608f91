/**
 * The format of the container output files on the datastore (log-store.ts does their I/O),
 * and the segment logic, as pure functions.
 *
 * vSphere's /folder PUT replaces a whole file, so output goes into bounded segments that
 * are rewritten whole: a ring of MAX_SEGMENTS slot files, segment n in slot n % MAX_SEGMENTS.
 * A reader orders them by the number in their header, so rotation needs no move, delete or
 * index file, and a container keeps the newest (MAX_SEGMENTS - 1) to MAX_SEGMENTS segments
 * of SEGMENT_BYTES each: 768 KiB to 1 MiB, like the 1 MiB the VCH keeps in memory.
 *
 * Segment: magic `VCHLOG\0` + format version (8 bytes), u32 segment number, then records.
 * Record: u32 data length, u8 stream (1 stdout, 2 stderr), u64 ms since the epoch when the
 * VCH received it, 8 bytes run id, u32 sequence number in the run, then the data as it came
 * (binary-safe). All big-endian. A run is one MainSession: (run, seq) tells the reader which
 * of the live session's chunks are on the datastore already.
 */
import type { LogChunk } from './main-session';

export const SEGMENT_BYTES = 256 * 1024;
export const MAX_SEGMENTS = 4;

/** A chunk as persisted: which run of the container it came from. */
export interface LogRecord extends LogChunk {
  /** 16 hex digits (8 bytes), MainSession's `run`. */
  readonly run: string;
}

const MAGIC = Buffer.from('VCHLOG\0\x01', 'latin1');
const SEGMENT_HEADER_BYTES = MAGIC.length + 4;
const RECORD_HEADER_BYTES = 4 + 1 + 8 + 8 + 4;
const RUN_BYTES = 8;

export function encodeRecord(r: LogRecord): Buffer {
  const run = Buffer.from(r.run, 'hex');
  if (run.length !== RUN_BYTES) throw new Error(`a run id is ${RUN_BYTES} bytes of hex, not ${JSON.stringify(r.run)}`);
  const head = Buffer.alloc(RECORD_HEADER_BYTES);
  head.writeUInt32BE(r.data.length, 0);
  head.writeUInt8(r.stream, 4);
  head.writeBigUInt64BE(BigInt(r.time.getTime()), 5);
  run.copy(head, 13);
  head.writeUInt32BE(r.seq, 21);
  return Buffer.concat([head, r.data]);
}

function segmentHeader(number: number): Buffer {
  const head = Buffer.alloc(SEGMENT_HEADER_BYTES);
  MAGIC.copy(head);
  head.writeUInt32BE(number, MAGIC.length);
  return head;
}

export interface DecodedSegment {
  readonly number: number;
  readonly records: readonly LogRecord[];
  /** Bytes up to the end of the last whole record: what a writer continuing the segment keeps. */
  readonly validBytes: number;
}

/**
 * A segment file's records; undefined when it is not one. Decoding stops at the first
 * record that is cut short or malformed (a read that met a rewrite, a write cut off), so
 * whatever came before it is kept.
 */
export function decodeSegment(buf: Buffer): DecodedSegment | undefined {
  if (buf.length < SEGMENT_HEADER_BYTES || !buf.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const number = buf.readUInt32BE(MAGIC.length);
  const records: LogRecord[] = [];
  let at = SEGMENT_HEADER_BYTES;
  while (at + RECORD_HEADER_BYTES <= buf.length) {
    const length = buf.readUInt32BE(at);
    const stream = buf.readUInt8(at + 4);
    const end = at + RECORD_HEADER_BYTES + length;
    if ((stream !== 1 && stream !== 2) || end > buf.length) break;
    records.push({
      stream,
      time: new Date(Number(buf.readBigUInt64BE(at + 5))),
      run: buf.toString('hex', at + 13, at + 13 + RUN_BYTES),
      seq: buf.readUInt32BE(at + 21),
      // A copy: the record outlives the file's buffer, which may be large.
      data: Buffer.from(buf.subarray(at + RECORD_HEADER_BYTES, end)),
    });
    at = end;
  }
  return { number, records, validBytes: at };
}

/** A segment being written: its encoded bytes in parts (the header first), rewritten whole. */
export interface Segment {
  readonly number: number;
  readonly parts: readonly Buffer[];
  readonly bytes: number;
}

export function newSegment(number: number): Segment {
  const head = segmentHeader(number);
  return { number, parts: [head], bytes: head.length };
}

/** A segment read back, to go on appending to it: its bytes up to the last whole record. */
export function continuedSegment(buf: Buffer, decoded: DecodedSegment): Segment {
  return { number: decoded.number, parts: [buf.subarray(0, decoded.validBytes)], bytes: decoded.validBytes };
}

export function segmentBytes(s: Segment): Buffer {
  return Buffer.concat(s.parts, s.bytes);
}

export function slotOf(number: number): number {
  return number % MAX_SEGMENTS;
}

/**
 * Appends encoded records: a segment that holds a record already and would pass `limit`
 * with the next one is closed and the next number begins (so a segment passes the limit
 * only by a single record larger than the limit itself).
 */
export function appendRecords(
  current: Segment,
  records: readonly Buffer[],
  limit: number = SEGMENT_BYTES,
): { readonly closed: readonly Segment[]; readonly current: Segment } {
  const closed: Segment[] = [];
  let number = current.number;
  let parts = [...current.parts];
  let bytes = current.bytes;
  for (const r of records) {
    if (parts.length > 1 && bytes + r.length > limit) {
      closed.push({ number, parts, bytes });
      const next = newSegment(number + 1);
      number = next.number;
      parts = [...next.parts];
      bytes = next.bytes;
    }
    parts.push(r);
    bytes += r.length;
  }
  return { closed, current: { number, parts, bytes } };
}

/** Where a writer goes on: the newest segment when it has room, else a new one after it. */
export function resumeAt(
  found: readonly { readonly buf: Buffer; readonly decoded: DecodedSegment }[],
  limit: number = SEGMENT_BYTES,
): Segment {
  const newest = found.reduce<(typeof found)[number] | undefined>(
    (a, b) => (a === undefined || b.decoded.number > a.decoded.number ? b : a),
    undefined,
  );
  if (!newest) return newSegment(0);
  if (newest.decoded.validBytes < limit) return continuedSegment(newest.buf, newest.decoded);
  return newSegment(newest.decoded.number + 1);
}

/**
 * Every record of the segments found, oldest first. A slot whose rewrite failed may still
 * hold a segment from before the window: only the MAX_SEGMENTS newest numbers count.
 */
export function orderRecords(segments: readonly DecodedSegment[]): LogRecord[] {
  const newest = Math.max(-1, ...segments.map((s) => s.number));
  return [...segments]
    .filter((s) => s.number > newest - MAX_SEGMENTS)
    .sort((a, b) => a.number - b.number)
    .flatMap((s) => s.records);
}

/** The live run's chunks that the persisted records do not hold yet (a run's seqs only grow). */
export function notPersisted(
  persisted: readonly LogRecord[],
  run: string,
  chunks: readonly LogChunk[],
): readonly LogChunk[] {
  let last = -1;
  for (const r of persisted) if (r.run === run && r.seq > last) last = r.seq;
  return chunks.filter((c) => c.seq > last);
}
