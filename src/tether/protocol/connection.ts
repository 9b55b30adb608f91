import type { Duplex } from 'node:stream';
import { encodeDataFrame, encodeFrame, type Frame, FrameDecoder, FrameType, type StreamId } from './frames';

/**
 * Frames over any Duplex: a unix or TCP socket on the host, the virtio-serial port's
 * character device in the guest. Owns the byte stream; knows nothing of channels.
 */
export class FrameConnection {
  private readonly decoder = new FrameDecoder();
  private handler: (frame: Frame) => void = () => {};
  private drainWaiters: Array<() => void> = [];
  private closeHandlers: Array<(err?: Error) => void> = [];
  private closedWith: { err?: Error } | undefined;

  constructor(private readonly transport: Duplex) {
    transport.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = this.decoder.push(chunk);
      } catch (err) {
        this.destroy(err as Error);
        return;
      }
      for (const frame of frames) {
        if (this.closedWith) return;
        if (frame.type === FrameType.Ping) {
          this.send(FrameType.Pong, frame.channel, frame.payload);
          continue;
        }
        this.handler(frame);
      }
    });
    transport.on('drain', () => this.flushDrainWaiters());
    transport.on('error', (err) => this.finish(err));
    transport.on('close', () => this.finish());
    // A half-closed transport is a finished one: the peer will not talk again.
    transport.on('end', () => this.finish());
  }

  /** Sets the single consumer of incoming frames (Ping is answered here). */
  onFrame(handler: (frame: Frame) => void): void {
    this.handler = handler;
  }

  onClose(handler: (err?: Error) => void): void {
    if (this.closedWith) handler(this.closedWith.err);
    else this.closeHandlers.push(handler);
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Returns false when the transport's buffer is full: wait for {@link drained}. */
  send(type: FrameType, channel: number, payload?: Buffer): boolean {
    if (this.closedWith || this.transport.destroyed) return true;
    return this.transport.write(encodeFrame(type, channel, payload));
  }

  /** Data without an intermediate copy; same contract as {@link send}. */
  sendData(channel: number, stream: StreamId, data: Buffer, start: number, end: number): boolean {
    if (this.closedWith || this.transport.destroyed) return true;
    return this.transport.write(encodeDataFrame(channel, stream, data, start, end));
  }

  /** Resolves once the transport can take more (at once if it already can, or is gone). */
  drained(): Promise<void> {
    if (!this.transport.writableNeedDrain || this.closedWith) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  destroy(err?: Error): void {
    this.transport.destroy();
    this.finish(err);
  }

  private flushDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private finish(err?: Error): void {
    if (this.closedWith) return;
    this.closedWith = { err };
    if (!this.transport.destroyed) this.transport.end();
    this.flushDrainWaiters();
    for (const h of this.closeHandlers) h(err);
    this.closeHandlers = [];
  }
}
