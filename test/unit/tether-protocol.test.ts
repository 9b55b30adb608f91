import { Duplex, PassThrough } from 'node:stream';
import { Channel } from '../../src/tether/protocol/channel';
import { FrameConnection } from '../../src/tether/protocol/connection';
import { ReceiveWindow, SendCredit } from '../../src/tether/protocol/flow-control';
import {
  encodeDataFrame,
  encodeFrame,
  type Frame,
  FrameDecoder,
  FrameType,
  MAX_FRAME_BYTES,
  ProtocolError,
  StreamId,
} from '../../src/tether/protocol/frames';
import { decodeJson, decodeResize, encodeResize, isHello } from '../../src/tether/protocol/messages';

describe('frames', () => {
  test('round trip through the decoder, byte by byte and all at once', () => {
    const frames = [
      encodeFrame(FrameType.Hello, 0, Buffer.from('{"protocol":1,"vmId":"vm-1"}')),
      encodeFrame(FrameType.Close, 7),
      encodeDataFrame(3, StreamId.Stderr, Buffer.from('xxhello'), 2, 7),
    ];
    const wire = Buffer.concat(frames);
    const expected = [
      { type: FrameType.Hello, channel: 0, payload: '{"protocol":1,"vmId":"vm-1"}' },
      { type: FrameType.Close, channel: 7, payload: '' },
      { type: FrameType.Data, channel: 3, payload: '\u0002hello' },
    ];
    const show = (fs: Frame[]) =>
      fs.map((f) => ({ type: f.type, channel: f.channel, payload: f.payload.toString('latin1') }));

    expect(show(new FrameDecoder().push(wire))).toEqual(expected);
    const d = new FrameDecoder();
    const got: Frame[] = [];
    for (let i = 0; i < wire.length; i++) got.push(...d.push(wire.subarray(i, i + 1)));
    expect(show(got)).toEqual(expected);
  });

  test('refuses oversize frames and unknown types', () => {
    const big = Buffer.alloc(4);
    big.writeUInt32BE(MAX_FRAME_BYTES + 1);
    expect(() => new FrameDecoder().push(big)).toThrow(ProtocolError);
    const odd = encodeFrame(FrameType.Close, 1);
    odd[4] = 0x7f;
    expect(() => new FrameDecoder().push(odd)).toThrow('unknown frame type 0x7f');
  });

  test('messages: shape checks and resize', () => {
    expect(decodeJson(Buffer.from('{"protocol":1,"vmId":"a"}'), 'hello', isHello)).toEqual({ protocol: 1, vmId: 'a' });
    expect(() => decodeJson(Buffer.from('{"protocol":1}'), 'hello', isHello)).toThrow(ProtocolError);
    expect(() => decodeJson(Buffer.from('nope'), 'hello', isHello)).toThrow('hello: not JSON');
    expect(decodeResize(encodeResize(50, 132))).toEqual({ rows: 50, cols: 132 });
  });
});

describe('flow control', () => {
  test('credit is taken up to what is left, and waited for', async () => {
    const c = new SendCredit(10);
    await expect(c.take(4)).resolves.toBe(4);
    await expect(c.take(100)).resolves.toBe(6);
    const waiting = c.take(5);
    c.add(3);
    await expect(waiting).resolves.toBe(3);
    const cancelled = c.take(1);
    c.cancel();
    await expect(cancelled).resolves.toBe(0);
  });

  test('the window returns credit in batches, and always when all is consumed', () => {
    const returned: number[] = [];
    const w = new ReceiveWindow(100, (n) => returned.push(n));
    expect(w.received(30)).toBe(true);
    expect(w.received(30)).toBe(true);
    w.consumed(30); // 30 outstanding, 30 unreturned: below half a window
    expect(returned).toEqual([]);
    w.consumed(30); // all consumed
    expect(returned).toEqual([60]);
    expect(w.received(101)).toBe(false); // overspent
  });

  test('a slow reader holds the sender back, then gets every byte', async () => {
    // Two connections joined back to back: a "tether" writing and a "VCH" reading.
    const aToB = new PassThrough();
    const bToA = new PassThrough();
    const a = new FrameConnection(duplex(bToA, aToB));
    const b = new FrameConnection(duplex(aToB, bToA));
    const window = 64 * 1024;
    const sender = new Channel(a, 1, window, window);
    const receiver = new Channel(b, 1, window, window);
    a.onFrame((f) => sender.handle(f));
    b.onFrame((f) => receiver.handle(f));
    const out = sender.writable(StreamId.Stdout);
    const input = receiver.readable(StreamId.Stdout);

    const data = Buffer.alloc(1024 * 1024, 7);
    out.end(data);
    await new Promise((r) => setTimeout(r, 50));
    // Nothing read yet: at most the window (plus the readable's buffer) crossed over.
    expect(input.readableLength).toBeLessThanOrEqual(window + 64 * 1024);
    const chunks: Buffer[] = [];
    for await (const c of input) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
  });
});

function duplex(readable: PassThrough, writable: PassThrough): Duplex {
  return Duplex.from({ readable, writable });
}
