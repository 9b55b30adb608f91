/**
 * Docker's stdcopy framing: without a tty, attach/logs/exec streams carry stdout and stderr
 * on one connection as frames `[stream, 0, 0, 0, length as big-endian uint32]` + payload
 * (stream 0 stdin, 1 stdout, 2 stderr, 3 a system error message).
 */

import { Writable } from 'node:stream';

export type StdStream = 0 | 1 | 2 | 3;

export const STDCOPY_HEADER_BYTES = 8;

/** Largest payload per frame; dockerd splits larger writes the same way. */
const MAX_FRAME_PAYLOAD = 32 * 1024;

export function frameHeader(stream: StdStream, length: number): Buffer {
  const header = Buffer.alloc(STDCOPY_HEADER_BYTES);
  header[0] = stream;
  header.writeUInt32BE(length, 4);
  return header;
}

/** One write as frames (several when large); empty input gives no frame, as dockerd never sends one. */
export function frame(stream: StdStream, payload: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0; at < payload.length; at += MAX_FRAME_PAYLOAD) {
    const piece = payload.subarray(at, at + MAX_FRAME_PAYLOAD);
    parts.push(frameHeader(stream, piece.length), piece);
  }
  return Buffer.concat(parts);
}

export interface DemuxedFrame {
  readonly stream: StdStream;
  readonly payload: Buffer;
}

/** Splits a complete framed buffer (tests and clients of our own). Throws on a torn frame. */
export function demux(data: Buffer): DemuxedFrame[] {
  const out: DemuxedFrame[] = [];
  let at = 0;
  while (at < data.length) {
    if (data.length - at < STDCOPY_HEADER_BYTES) throw new Error('stdcopy: truncated header');
    const stream = data[at]!;
    if (stream > 3) throw new Error(`stdcopy: unknown stream ${stream}`);
    const len = data.readUInt32BE(at + 4);
    const end = at + STDCOPY_HEADER_BYTES + len;
    if (end > data.length) throw new Error('stdcopy: truncated payload');
    out.push({ stream: stream as StdStream, payload: data.subarray(at + STDCOPY_HEADER_BYTES, end) });
    at = end;
  }
  return out;
}

/**
 * A Writable that frames whatever is written to it onto `target` as one stream. It never
 * ends `target`: stdout and stderr share it, and the route ends it when the process is done.
 */
export function framingWriter(target: Writable, stream: StdStream): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, callback) {
      if (target.destroyed || target.writableEnded) {
        callback();
        return;
      }
      target.write(frame(stream, chunk));
      // At once, not on flush: writes then reach the socket in the same tick, so ending the
      // connection when the process ends never strands output in this stream's buffer.
      callback();
    },
  });
}

/** A Writable passing bytes through to `target` unframed (tty streams), likewise never ending it. */
export function rawWriter(target: Writable): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, callback) {
      if (target.destroyed || target.writableEnded) {
        callback();
        return;
      }
      target.write(chunk);
      callback();
    },
  });
}
