/**
 * Docker's detach keys: a key sequence on an attach's stdin (with a tty) that ends the
 * attach and leaves the process running. `ctrl-p,ctrl-q` unless the client names its own
 * (`detachKeys` on attach, `DetachKeys` on exec create), in Docker's notation: keys separated
 * by commas, each a single character or `ctrl-<a..z|@|[|\|]|^|_>`.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { InvalidParameterError } from '../../portlayer/api';

export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';

/** The bytes of a detach key sequence; a 400 in Docker's words for one it cannot read. */
export function parseDetachKeys(spec: string): Buffer {
  const bytes: number[] = [];
  for (const key of spec.split(',')) {
    if (key.length === 1) {
      bytes.push(key.charCodeAt(0));
      continue;
    }
    const m = /^ctrl-([a-z@[\\\]^_])$/.exec(key.toLowerCase());
    if (!m?.[1]) throw new InvalidParameterError(`Invalid detach keys (${spec}) provided`);
    // The control character is the key's ASCII code with bits 5 and 6 cleared: ctrl-p is 16.
    bytes.push(m[1].toUpperCase().charCodeAt(0) & 0x1f);
  }
  return Buffer.from(bytes);
}

/**
 * Passes stdin through, holding back bytes that may begin the sequence until the next ones
 * tell: the whole sequence is never passed on, a sequence that breaks off is passed on as
 * typed. Once the sequence is seen it emits `detach` and passes nothing more, not even the
 * end of its input: the process's stdin stays open for the next attach.
 */
export class DetachSequence extends Transform {
  private matched = 0;
  private detached = false;

  constructor(private readonly keys: Buffer) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (this.detached) {
      done();
      return;
    }
    const out: number[] = [];
    for (const byte of chunk) {
      if (byte === this.keys[this.matched]) {
        this.matched++;
        if (this.matched === this.keys.length) {
          if (out.length > 0) this.push(Buffer.from(out));
          this.detached = true;
          this.emit('detach');
          done();
          return;
        }
        continue;
      }
      // A broken-off sequence is input after all; this byte may start a new one.
      out.push(...this.keys.subarray(0, this.matched));
      this.matched = 0;
      if (byte === this.keys[0]) this.matched = 1;
      else out.push(byte);
    }
    if (out.length > 0) this.push(Buffer.from(out));
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.detached) return; // never ends: see the class comment
    if (this.matched > 0) this.push(this.keys.subarray(0, this.matched));
    done();
  }
}
