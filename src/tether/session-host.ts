import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { MainProcess } from './main-process';
import { ExecError } from './path-lookup';
import type { LaunchedProcess, Launcher } from './process-launcher';
import { Channel } from './protocol/channel';
import type { FrameConnection } from './protocol/connection';
import { DEFAULT_WINDOW } from './protocol/flow-control';
import { type Frame, FrameType, ProtocolError, StreamId } from './protocol/frames';
import {
  decodeJson,
  decodeResize,
  type ExitStatus,
  encodeJson,
  type Hello,
  type HelloAck,
  isHelloAck,
  isOpenRequest,
  type OpenFail,
  type OpenOk,
  type OpenRequest,
  PROTOCOL_VERSION,
} from './protocol/messages';
import { parseSignal } from './signals';

/** After a process exits, how long its stdio may stay open (held by a background child). */
const DRAIN_GRACE_MS = 250;

export interface SessionHostOptions {
  vmId: string;
  containerId?: string;
  main: MainProcess;
  launcher: Launcher;
  log?: (message: string) => void;
}

interface OpenChannel {
  channel: Channel;
  /** An attach to the main process: its Exit must reach the VCH before the VM powers off. */
  attach: boolean;
  proc?: LaunchedProcess;
  /** Exit and Close sent; kept until the VCH's Close says it has them. */
  closing?: boolean;
}

/**
 * The tether's end of one backchannel connection: says who it is, then serves the
 * channels the VCH opens (exec sessions and attaches to the main process).
 */
export class SessionHost {
  private readonly channels = new Map<number, OpenChannel>();
  private readonly log: (message: string) => void;
  private readonly settledWaiters = new Set<() => void>();

  constructor(
    private readonly conn: FrameConnection,
    private readonly options: SessionHostOptions,
  ) {
    this.log = options.log ?? (() => {});
    conn.onClose(() => {
      // Processes keep running (as Docker exec's do when the client goes); only the
      // streams to this connection end.
      for (const c of this.channels.values()) c.channel.close();
      this.channels.clear();
      this.checkSettled();
    });
  }

  /**
   * Resolves once every attach to the main process has been closed by the VCH (so it has
   * the Exit and all output), the connection is gone, or `timeoutMs` has passed: what the
   * VM waits for before it powers off, instead of guessing how long the frames take.
   */
  settled(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.settledWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.settledWaiters.add(done);
      this.checkSettled();
    });
  }

  private checkSettled(): void {
    if (this.conn.closed || ![...this.channels.values()].some((c) => c.attach)) {
      for (const done of [...this.settledWaiters]) done();
    }
  }

  private forget(id: number): void {
    this.channels.delete(id);
    this.checkSettled();
  }

  /** Sends the hello and waits for the attach server's answer. */
  async handshake(timeoutMs = 10_000): Promise<void> {
    const hello: Hello = {
      protocol: PROTOCOL_VERSION,
      vmId: this.options.vmId,
      containerId: this.options.containerId,
      pid: process.pid,
    };
    const acked = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('backchannel: no hello answer')), timeoutMs);
      this.conn.onClose((err) => {
        clearTimeout(timer);
        reject(err ?? new Error('backchannel: closed during hello'));
      });
      this.conn.onFrame((frame) => {
        clearTimeout(timer);
        if (frame.type !== FrameType.HelloAck) {
          this.conn.destroy(new ProtocolError('expected hello ack'));
          return;
        }
        decodeJson<HelloAck>(frame.payload, 'hello ack', isHelloAck);
        this.conn.onFrame((f) => this.onFrame(f));
        resolve();
      });
    });
    this.conn.send(FrameType.Hello, 0, encodeJson(hello));
    await acked;
  }

  private onFrame(frame: Frame): void {
    try {
      this.dispatch(frame);
    } catch (err) {
      this.log(`backchannel: ${(err as Error).message}`);
      this.conn.destroy(err as Error);
    }
  }

  private dispatch(frame: Frame): void {
    if (frame.type === FrameType.Open) {
      if (this.channels.has(frame.channel)) throw new ProtocolError(`channel ${frame.channel} is open`);
      const req = decodeJson<OpenRequest>(frame.payload, 'open', isOpenRequest);
      const channel = new Channel(this.conn, frame.channel, DEFAULT_WINDOW, req.window);
      const entry: OpenChannel = { channel, attach: req.kind !== 'exec' };
      this.channels.set(frame.channel, entry);
      this.open(entry, req).catch((err: Error) => this.log(`channel ${frame.channel}: ${err.message}`));
      return;
    }
    const entry = this.channels.get(frame.channel);
    if (!entry) return; // a closed channel's late frames
    if (entry.closing) {
      // Only the VCH's Close matters now: the process is gone.
      if (frame.type === FrameType.Close) this.forget(frame.channel);
      return;
    }
    if (entry.channel.handle(frame)) return;
    switch (frame.type) {
      case FrameType.Resize: {
        const { rows, cols } = decodeResize(frame.payload);
        entry.proc?.resize(rows, cols);
        return;
      }
      case FrameType.Signal: {
        const signal = parseSignal(frame.payload.toString('utf8'));
        if (signal !== undefined) entry.proc?.signal(signal);
        return;
      }
      case FrameType.Close:
        entry.channel.close();
        this.forget(frame.channel);
        return;
      default:
        throw new ProtocolError(`unexpected frame 0x${frame.type.toString(16)} on channel ${frame.channel}`);
    }
  }

  private async open(entry: OpenChannel, req: OpenRequest): Promise<void> {
    const { channel } = entry;
    const stdout = channel.writable(StreamId.Stdout);
    const stderr = channel.writable(StreamId.Stderr);
    const stdin = channel.readable(StreamId.Stdin);
    let proc: LaunchedProcess;
    let exited: Promise<ExitStatus>;
    try {
      if (req.kind === 'exec') {
        proc = await this.options.launcher(req.process);
        proc.stdout.pipe(stdout);
        if (proc.stderr) proc.stderr.pipe(stderr);
        else stderr.end();
        stdin.pipe(proc.stdin);
        exited = proc.exited;
      } else {
        const main = this.options.main;
        const attachment = { stdout, stderr, stdin };
        proc = await main.attach(attachment);
        if (req.rows && req.cols) proc.resize(req.rows, req.cols);
        exited = main.exited();
        this.conn.onClose(() => main.detach(attachment, proc));
      }
    } catch (err) {
      const fail: OpenFail =
        err instanceof ExecError
          ? { message: err.message, exitCode: err.exitCode }
          : { message: (err as Error).message, exitCode: 126 };
      this.conn.send(FrameType.OpenFail, channel.id, encodeJson(fail));
      this.forget(channel.id);
      return;
    }
    entry.proc = proc;
    const ok: OpenOk = { pid: proc.pid, tty: proc.tty, window: DEFAULT_WINDOW };
    this.conn.send(FrameType.OpenOk, channel.id, encodeJson(ok));

    const status = await exited;
    await finishedOrGrace([stdout, stderr], proc);
    if (this.channels.get(channel.id) !== entry) return; // the VCH closed it meanwhile
    this.conn.send(FrameType.Exit, channel.id, encodeJson(status));
    this.conn.send(FrameType.Close, channel.id);
    channel.close();
    entry.closing = true;
  }
}

/**
 * Exit is reported after the output's Eof, so the VCH has every byte before the code.
 * A background child holding the pipes open must not hold the exit back: once the output
 * has been idle for a grace period after the exit, the streams are cut and ended.
 */
async function finishedOrGrace(streams: Writable[], proc: LaunchedProcess): Promise<void> {
  const finished = Promise.all(streams.map((s) => (s.writableFinished ? undefined : once(s, 'finish'))));
  const sources = [proc.stdout, proc.stderr].filter((s) => s !== null);
  let timer: NodeJS.Timeout | undefined;
  let onData = () => {};
  const idle = new Promise<'idle'>((resolve) => {
    onData = () => {
      clearTimeout(timer);
      // Output waiting for credit is not idleness: a slow reader must still get it all.
      timer = setTimeout(
        () => (streams.some((s) => s.writableLength > 0) ? onData() : resolve('idle')),
        DRAIN_GRACE_MS,
      );
    };
    onData();
  });
  for (const s of sources) s.on('data', onData);
  const first = await Promise.race([finished, idle]);
  clearTimeout(timer);
  for (const s of sources) s.off('data', onData);
  if (first !== 'idle') return;
  for (const s of sources) s.unpipe();
  for (const s of streams) if (!s.writableEnded) s.end();
  await finished;
}
