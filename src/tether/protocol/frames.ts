/**
 * The backchannel's frame layout (docs/backchannel.md):
 *
 *   u32 BE length | u8 type | u32 BE channel | payload (length - 5 bytes)
 *
 * `length` counts everything after itself. Channel 0 is the connection itself (hello);
 * session channels are numbered by the VCH side, which opens them.
 */

export const FrameType = {
  /** tether → VCH, channel 0: JSON {@link Hello}; the first frame on a connection. */
  Hello: 0x01,
  /** VCH → tether, channel 0: JSON {@link HelloAck}. */
  HelloAck: 0x02,
  /** VCH → tether: JSON {@link OpenRequest}; opens the channel. */
  Open: 0x10,
  /** tether → VCH: JSON {@link OpenOk}. */
  OpenOk: 0x11,
  /** tether → VCH: JSON {@link OpenFail}; the channel is gone afterwards. */
  OpenFail: 0x12,
  /** either way: u8 stream id, then bytes. Costs credit (see Window). */
  Data: 0x20,
  /** either way: u32 BE bytes of credit returned to the sender of Data. */
  Window: 0x21,
  /** either way: u8 stream id; that stream is ended (stdin half-close, stdout done). */
  Eof: 0x22,
  /** VCH → tether: u16 BE rows, u16 BE cols. */
  Resize: 0x30,
  /** VCH → tether: UTF-8 signal name ("TERM", "SIGKILL", "15"). */
  Signal: 0x31,
  /** tether → VCH: JSON {@link ExitStatus}; sent after Eof of stdout and stderr. */
  Exit: 0x32,
  /** either way: the sender forgets the channel. */
  Close: 0x33,
  /** either way, channel 0: a keepalive; the payload is echoed back in a Pong. */
  Ping: 0x40,
  Pong: 0x41,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

const frameTypes: ReadonlySet<number> = new Set(Object.values(FrameType));

/** Stream ids inside Data and Eof frames; the numbers are the process's fds. */
export const StreamId = { Stdin: 0, Stdout: 1, Stderr: 2 } as const;
export type StreamId = (typeof StreamId)[keyof typeof StreamId];

/** Bytes before the payload: length, type, channel. */
export const FRAME_HEADER_BYTES = 9;
/** Data is cut into payloads of at most this size, so that channels interleave fairly. */
export const MAX_DATA_PAYLOAD = 64 * 1024;
/** A decoder refuses anything larger: the peer is broken or hostile. */
export const MAX_FRAME_BYTES = 1024 * 1024;

export interface Frame {
  type: FrameType;
  channel: number;
  payload: Buffer;
}

/** Thrown on malformed input; the connection carrying it cannot be trusted further. */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

export function encodeFrame(type: FrameType, channel: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  frame.writeUInt32BE(payload.length + 5, 0);
  frame.writeUInt8(type, 4);
  frame.writeUInt32BE(channel >>> 0, 5);
  payload.copy(frame, FRAME_HEADER_BYTES);
  return frame;
}

/** A Data frame built in one allocation: header, stream id, then `data[start, end)`. */
export function encodeDataFrame(channel: number, stream: StreamId, data: Buffer, start: number, end: number): Buffer {
  const n = end - start;
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 1 + n);
  frame.writeUInt32BE(n + 6, 0);
  frame.writeUInt8(FrameType.Data, 4);
  frame.writeUInt32BE(channel >>> 0, 5);
  frame.writeUInt8(stream, FRAME_HEADER_BYTES);
  data.copy(frame, FRAME_HEADER_BYTES + 1, start, end);
  return frame;
}

/**
 * Incremental decoder. Chunks are only concatenated once a whole frame is known to be
 * buffered, so each byte is copied at most once on its way through.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Frame[] = [];
    while (this.buffered >= 4) {
      const needed = 4 + this.peekLength();
      if (this.buffered < needed) break;
      const buf = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered);
      let offset = 0;
      while (buf.length - offset >= 4) {
        const length = buf.readUInt32BE(offset);
        checkLength(length);
        if (buf.length - offset < 4 + length) break;
        const type = buf.readUInt8(offset + 4);
        if (!frameTypes.has(type)) throw new ProtocolError(`unknown frame type 0x${type.toString(16)}`);
        frames.push({
          type: type as FrameType,
          channel: buf.readUInt32BE(offset + 5),
          payload: buf.subarray(offset + FRAME_HEADER_BYTES, offset + 4 + length),
        });
        offset += 4 + length;
      }
      const rest = buf.subarray(offset);
      this.chunks = rest.length ? [rest] : [];
      this.buffered = rest.length;
    }
    return frames;
  }

  /** The length field of the first buffered frame, which may span chunks. */
  private peekLength(): number {
    if (this.chunks[0].length < 4) {
      this.chunks = [Buffer.concat(this.chunks, this.buffered)];
    }
    const length = this.chunks[0].readUInt32BE(0);
    checkLength(length);
    return length;
  }
}

function checkLength(length: number): void {
  if (length < 5 || length > MAX_FRAME_BYTES) throw new ProtocolError(`bad frame length ${length}`);
}
