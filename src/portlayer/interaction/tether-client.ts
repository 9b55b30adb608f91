import type { Duplex } from 'node:stream';
import { Channel } from '../../tether/protocol/channel';
import { FrameConnection } from '../../tether/protocol/connection';
import { DEFAULT_WINDOW } from '../../tether/protocol/flow-control';
import { type Frame, FrameType, ProtocolError, StreamId } from '../../tether/protocol/frames';
import {
  decodeJson,
  type ExitStatus,
  encodeJson,
  encodeResize,
  type Hello,
  type HelloAck,
  isExitStatus,
  isHello,
  isOpenFail,
  isOpenOk,
  type OpenFail,
  type OpenOk,
  type OpenRequest,
  PROTOCOL_VERSION,
  type ProcessSpec,
} from '../../tether/protocol/messages';
import { type Session, SessionStartError, type SessionStdio, TetherGoneError } from './session';

interface PendingChannel {
  channel: Channel;
  opened: (ok: OpenOk) => void;
  failed: (err: Error) => void;
  exited: (status: ExitStatus) => void;
  lost: (err: Error) => void;
}

/**
 * The VCH's end of one tether's backchannel: opens exec and attach sessions over it.
 * Everything from the guest is checked; a malformed frame ends the connection, never the VCH.
 */
export class TetherClient {
  private readonly channels = new Map<number, PendingChannel>();
  private nextChannel = 1;
  private closeError: Error | undefined;

  private constructor(
    private readonly conn: FrameConnection,
    readonly hello: Hello,
  ) {
    conn.onFrame((frame) => {
      try {
        this.dispatch(frame);
      } catch (err) {
        conn.destroy(err as Error);
      }
    });
    conn.onClose((err) => {
      this.closeError = new TetherGoneError(
        `tether of ${hello.vmId}: backchannel closed${err ? `: ${err.message}` : ''}`,
      );
      for (const p of this.channels.values()) p.lost(this.closeError);
      this.channels.clear();
    });
  }

  /** Waits for a tether's hello on a fresh connection and answers it. */
  static accept(transport: Duplex, timeoutMs = 10_000): Promise<TetherClient> {
    const conn = new FrameConnection(transport);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => conn.destroy(new ProtocolError('no hello')), timeoutMs);
      conn.onClose((err) => {
        clearTimeout(timer);
        reject(err ?? new ProtocolError('closed before hello'));
      });
      conn.onFrame((frame) => {
        clearTimeout(timer);
        try {
          if (frame.type !== FrameType.Hello || frame.channel !== 0) throw new ProtocolError('expected hello');
          const hello = decodeJson<Hello>(frame.payload, 'hello', isHello);
          if (hello.protocol !== PROTOCOL_VERSION) throw new ProtocolError(`protocol ${hello.protocol} unsupported`);
          const ack: HelloAck = { protocol: PROTOCOL_VERSION };
          const client = new TetherClient(conn, hello);
          conn.send(FrameType.HelloAck, 0, encodeJson(ack));
          resolve(client);
        } catch (err) {
          conn.destroy(err as Error);
        }
      });
    });
  }

  get vmId(): string {
    return this.hello.vmId;
  }

  get closed(): boolean {
    return this.conn.closed;
  }

  onClose(handler: () => void): void {
    this.conn.onClose(() => handler());
  }

  /** Runs a new process in the container (docker exec). Rejects with SessionStartError. */
  exec(spec: ProcessSpec, stdio?: SessionStdio): Promise<Session> {
    return this.open({ kind: 'exec', process: spec, window: DEFAULT_WINDOW }, spec.tty === true, stdio);
  }

  /** Attaches to the container's main process, starting it on the first attach. */
  attach(stdio?: SessionStdio, size?: { rows: number; cols: number }): Promise<Session> {
    return this.open({ kind: 'attach', window: DEFAULT_WINDOW, ...size }, false, stdio);
  }

  close(): void {
    this.conn.destroy();
  }

  private open(req: OpenRequest, tty: boolean, stdio: SessionStdio | undefined): Promise<Session> {
    if (this.closeError) return Promise.reject(this.closeError);
    const id = this.nextChannel;
    this.nextChannel = (this.nextChannel % 0xffffffff) + 1; // 0 is the connection's own
    const channel = new Channel(this.conn, id, DEFAULT_WINDOW, 0);
    const stdout = channel.readable(StreamId.Stdout);
    const stderr = channel.readable(StreamId.Stderr);
    const stdin = channel.writable(StreamId.Stdin);

    let resolveExit: (s: ExitStatus) => void = () => {};
    let rejectExit: (e: Error) => void = () => {};
    const exit = new Promise<ExitStatus>((resolve, reject) => {
      resolveExit = resolve;
      rejectExit = reject;
    });
    exit.catch(() => {}); // a caller that never looks at the exit must not crash the VCH

    return new Promise<Session>((resolve, reject) => {
      const pending: PendingChannel = {
        channel,
        opened: (ok) => {
          channel.credit.add(ok.window);
          const session = this.session(channel, ok, tty || ok.tty, { stdin, stdout, stderr }, exit);
          if (stdio?.stdin) stdio.stdin.pipe(stdin);
          if (stdio?.stdout) stdout.pipe(stdio.stdout);
          if (stdio?.stderr) stderr.pipe(stdio.stderr);
          resolve(session);
        },
        failed: (err) => {
          channel.close();
          rejectExit(err);
          reject(err);
        },
        exited: (status) => resolveExit(status),
        lost: (err) => {
          channel.close();
          rejectExit(err);
          reject(err);
        },
      };
      this.channels.set(id, pending);
      this.conn.send(FrameType.Open, id, encodeJson(req));
    });
  }

  private session(
    channel: Channel,
    ok: OpenOk,
    tty: boolean,
    streams: Pick<Session, 'stdin' | 'stdout' | 'stderr'>,
    exit: Promise<ExitStatus>,
  ): Session {
    const exitCode = exit.then((s) => s.exitCode);
    exitCode.catch(() => {});
    return {
      pid: ok.pid,
      tty,
      ...streams,
      resize: (rows, cols) => this.conn.send(FrameType.Resize, channel.id, encodeResize(rows, cols)),
      signal: (name) => this.conn.send(FrameType.Signal, channel.id, Buffer.from(name, 'utf8')),
      exitCode,
      exit,
      close: () => {
        if (!this.channels.delete(channel.id)) return;
        this.conn.send(FrameType.Close, channel.id);
        channel.close();
      },
    };
  }

  private dispatch(frame: Frame): void {
    const p = this.channels.get(frame.channel);
    if (!p) return; // a channel this side closed: its late frames are dropped
    if (p.channel.handle(frame)) return;
    switch (frame.type) {
      case FrameType.OpenOk:
        p.opened(decodeJson<OpenOk>(frame.payload, 'open ok', isOpenOk));
        return;
      case FrameType.OpenFail: {
        const fail = decodeJson<OpenFail>(frame.payload, 'open fail', isOpenFail);
        this.channels.delete(frame.channel);
        p.failed(new SessionStartError(fail.message, fail.exitCode));
        return;
      }
      case FrameType.Exit:
        p.exited(decodeJson<ExitStatus>(frame.payload, 'exit', isExitStatus));
        return;
      case FrameType.Close:
        this.channels.delete(frame.channel);
        p.channel.close();
        // The answering Close tells the tether we have the Exit: its VM may power off now.
        this.conn.send(FrameType.Close, frame.channel);
        return;
      default:
        throw new ProtocolError(`unexpected frame 0x${frame.type.toString(16)} from the tether`);
    }
  }
}
