/**
 * The backchannel over a virtio-serial port. The port's device allows one opener and
 * outlives any one connection of its host end (the chardev reconnects when the attach
 * server restarts; a clone's is a new connection), so the descriptor is opened once and
 * each `connect()` gives a fresh Duplex over it: the tether's run loop then sends a new
 * hello, as it would on a new socket.
 *
 * Host end state, as the guest sees it (virtio_console): a read returns 0 while no host is
 * connected and a write waits for one. So a 0 read before this connection has heard
 * anything means "not yet"; after it has, the host went away and the Duplex ends.
 */
import { type FileHandle, open } from 'node:fs/promises';
import { Duplex } from 'node:stream';

export class VirtioPort {
  private current: Duplex | undefined;
  private reading = false;

  private constructor(private readonly handle: FileHandle) {}

  static async open(device: string): Promise<VirtioPort> {
    return new VirtioPort(await open(device, 'r+'));
  }

  /** A Duplex for one connection; the previous one (if any) is ended first. */
  connect(): Promise<Duplex> {
    this.current?.destroy();
    let heard = false;
    const handle = this.handle;
    const duplex = new Duplex({
      read: () => {},
      write: (chunk: Buffer, _enc, done) => {
        handle.write(chunk).then(
          () => done(),
          (err: Error) => done(err),
        );
      },
    });
    this.current = duplex;
    const pump = async (): Promise<void> => {
      // One read outstanding at a time: each holds a libuv pool thread while it waits.
      while (this.reading) await new Promise((r) => setTimeout(r, 5));
      this.reading = true;
      const buf = Buffer.alloc(64 * 1024);
      try {
        while (this.current === duplex && !duplex.destroyed) {
          const { bytesRead } = await handle.read(buf, 0, buf.length, null);
          if (this.current !== duplex || duplex.destroyed) return; // bytes for a dead connection: dropped
          if (bytesRead > 0) {
            heard = true;
            duplex.push(Buffer.from(buf.subarray(0, bytesRead)));
          } else if (heard) {
            duplex.push(null);
            return;
          } else {
            await new Promise((r) => setTimeout(r, 10));
          }
        }
      } catch (err) {
        duplex.destroy(err as Error);
      } finally {
        this.reading = false;
      }
    };
    void pump();
    return Promise.resolve(duplex);
  }
}
