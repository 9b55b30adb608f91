/**
 * Credit-based flow control per channel and direction, as SSH's window: the receiver
 * announces a window, the sender spends credit on Data payload bytes, the receiver returns
 * credit (Window frames) as its consumer takes the bytes. A slow consumer therefore stops
 * its own sender without stalling other channels on the same serial port.
 */
export const DEFAULT_WINDOW = 512 * 1024;

/** The sending side's credit, shared by a channel's streams. */
export class SendCredit {
  private waiters: Array<() => void> = [];
  private cancelled = false;

  constructor(private credit: number) {}

  add(bytes: number): void {
    this.credit += bytes;
    this.wake();
  }

  /** Takes up to `want` bytes of credit, waiting for some; 0 means the channel is gone. */
  async take(want: number): Promise<number> {
    while (!this.cancelled && this.credit <= 0) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    if (this.cancelled) return 0;
    const n = Math.min(want, this.credit);
    this.credit -= n;
    return n;
  }

  cancel(): void {
    this.cancelled = true;
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

/** The receiving side's window: counts bytes held and returns credit as they are consumed. */
export class ReceiveWindow {
  private outstanding = 0;
  private unreturned = 0;

  constructor(
    readonly size: number,
    private readonly returnCredit: (bytes: number) => void,
  ) {}

  /** False when the peer overspent its credit: a protocol violation. */
  received(bytes: number): boolean {
    this.outstanding += bytes;
    return this.outstanding <= this.size;
  }

  /**
   * Returns credit in batches (half a window) to keep Window frames rare, but always once
   * everything is consumed, so a sender waiting for credit can never be left waiting.
   */
  consumed(bytes: number): void {
    this.outstanding -= bytes;
    this.unreturned += bytes;
    if (this.unreturned >= this.size / 2 || this.outstanding === 0) {
      const n = this.unreturned;
      this.unreturned = 0;
      if (n > 0) this.returnCredit(n);
    }
  }
}
