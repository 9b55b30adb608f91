/**
 * A minimal QMP client over the socket qemu's `-mon chardev=qmp,mode=control` connects to:
 * commands in order, one at a time (qemu answers in order), events to a callback.
 */
import type { Socket } from 'node:net';
import { createInterface } from 'node:readline';

export interface QmpEvent {
  readonly event: string;
  readonly data?: Readonly<Record<string, unknown>>;
}

export class QmpError extends Error {
  override readonly name = 'QmpError';
}

interface QmpMessage {
  QMP?: unknown;
  return?: unknown;
  error?: { class?: string; desc?: string };
  event?: string;
  data?: Record<string, unknown>;
}

export class Qmp {
  private readonly waiting: Array<{ resolve(v: unknown): void; reject(e: Error): void }> = [];
  private greeted: Promise<void>;

  constructor(
    private readonly socket: Socket,
    onEvent: (e: QmpEvent) => void,
  ) {
    let greet: () => void = () => {};
    this.greeted = new Promise((resolve) => {
      greet = resolve;
    });
    socket.on('error', () => undefined); // 'close' below settles everything
    socket.on('close', () => {
      for (const w of this.waiting.splice(0)) w.reject(new QmpError('QMP connection closed'));
    });
    const lines = createInterface({ input: socket, crlfDelay: Number.POSITIVE_INFINITY });
    // readline re-emits the socket's errors (ECONNRESET when qemu quits): unhandled, they would throw.
    lines.on('error', () => undefined);
    lines.on('line', (line) => {
      let msg: QmpMessage;
      try {
        msg = JSON.parse(line) as QmpMessage;
      } catch {
        return;
      }
      if (msg.QMP !== undefined) greet();
      else if (msg.event !== undefined) onEvent({ event: msg.event, data: msg.data });
      else if (msg.error !== undefined) this.waiting.shift()?.reject(new QmpError(msg.error.desc ?? 'QMP error'));
      else if ('return' in msg) this.waiting.shift()?.resolve(msg.return);
    });
  }

  /** Waits for the greeting and leaves capabilities negotiation mode. */
  async negotiate(): Promise<void> {
    await this.greeted;
    await this.execute('qmp_capabilities');
  }

  execute(command: string, args?: Readonly<Record<string, unknown>>): Promise<unknown> {
    if (this.socket.destroyed) return Promise.reject(new QmpError('QMP connection closed'));
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.socket.write(`${JSON.stringify(args ? { execute: command, arguments: args } : { execute: command })}\n`);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}
