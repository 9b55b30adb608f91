import { Readable, Writable } from 'node:stream';
import type { FrameConnection } from './connection';
import { ReceiveWindow, SendCredit } from './flow-control';
import { type Frame, FrameType, MAX_DATA_PAYLOAD, ProtocolError, StreamId } from './frames';
import { decodeWindow, encodeWindow } from './messages';

/**
 * One session channel's streams on either side: Writables that send Data under credit,
 * Readables fed by Data that return credit as they are read. Used by the tether (stdin is
 * a Readable, stdout/stderr Writables) and by the VCH side (the other way round).
 */
export class Channel {
  readonly credit: SendCredit;
  readonly window: ReceiveWindow;
  private readonly readables = new Map<number, ChannelReadable>();
  private readonly writables: ChannelWritable[] = [];

  constructor(
    readonly conn: FrameConnection,
    readonly id: number,
    localWindow: number,
    peerWindow: number,
  ) {
    this.credit = new SendCredit(peerWindow);
    this.window = new ReceiveWindow(localWindow, (n) => conn.send(FrameType.Window, id, encodeWindow(n)));
  }

  writable(stream: StreamId): ChannelWritable {
    const w = new ChannelWritable(this, stream);
    this.writables.push(w);
    return w;
  }

  readable(stream: StreamId): ChannelReadable {
    const r = new ChannelReadable(this.window);
    this.readables.set(stream, r);
    return r;
  }

  /** Handles Data, Window and Eof; false for any other frame type. Throws ProtocolError. */
  handle(frame: Frame): boolean {
    switch (frame.type) {
      case FrameType.Data: {
        if (frame.payload.length < 1) throw new ProtocolError('data: empty');
        const data = frame.payload.subarray(1);
        if (!this.window.received(data.length)) throw new ProtocolError('data: credit exceeded');
        const r = this.readables.get(frame.payload[0]);
        if (r && !r.readableEnded && !r.destroyed) r.deliver(data);
        else this.window.consumed(data.length); // nobody reads it: drop, but keep credit flowing
        return true;
      }
      case FrameType.Window:
        this.credit.add(decodeWindow(frame.payload));
        return true;
      case FrameType.Eof: {
        if (frame.payload.length !== 1) throw new ProtocolError('eof: bad length');
        this.readables.get(frame.payload[0])?.push(null);
        return true;
      }
      default:
        return false;
    }
  }

  /**
   * Ends the channel locally: pending sends are dropped and unread input ends. Input ends
   * rather than errors, so that a consumer without an 'error' listener cannot crash the
   * process; why it ended (the connection was lost) is told by the session's exit.
   */
  close(): void {
    this.credit.cancel();
    for (const r of this.readables.values()) {
      if (!r.readableEnded && !r.destroyed) r.push(null);
    }
  }
}

/** Bytes from the peer; credit goes back once the consumer has taken them. */
export class ChannelReadable extends Readable {
  private held = 0;

  constructor(private readonly window: ReceiveWindow) {
    super({ highWaterMark: MAX_DATA_PAYLOAD });
  }

  deliver(data: Buffer): void {
    // Within highWaterMark counts as consumed; beyond it, credit waits for _read.
    if (this.push(data)) this.window.consumed(data.length);
    else this.held += data.length;
  }

  override _read(): void {
    if (this.held > 0) {
      const n = this.held;
      this.held = 0;
      this.window.consumed(n);
    }
  }
}

/** Bytes to the peer, cut into Data frames as credit and the transport allow. */
export class ChannelWritable extends Writable {
  constructor(
    private readonly channel: Channel,
    private readonly stream: StreamId,
  ) {
    super({ highWaterMark: MAX_DATA_PAYLOAD });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.sendAll(chunk).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.channel.conn.send(FrameType.Eof, this.channel.id, Buffer.from([this.stream]));
    callback();
  }

  private async sendAll(chunk: Buffer): Promise<void> {
    const { conn, credit, id } = this.channel;
    let offset = 0;
    while (offset < chunk.length) {
      const n = await credit.take(Math.min(MAX_DATA_PAYLOAD, chunk.length - offset));
      if (n === 0) return; // channel closed: the peer no longer wants these bytes
      if (!conn.sendData(id, this.stream, chunk, offset, offset + n)) await conn.drained();
      offset += n;
    }
  }
}

export { StreamId };
