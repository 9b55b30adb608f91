/**
 * The guest side of guestinfo on the simulator host (see docs/guestinfo.md): a line protocol
 * over the virtio-serial port `org.vch.guestinfo`. On ESXi the same get/set goes through
 * vmware-rpctool; here the host agent answers from, and writes to, the VM's extraConfig.
 *
 * Dependency-free on purpose: it runs in the guest's Node from the bootstrap CD, and the host
 * agent imports the line codec from here so both ends share one definition.
 */
import { type FileHandle, open, readdir, readFile, stat } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';

export const GUESTINFO_PORT_NAME = 'org.vch.guestinfo';
export const GUESTINFO_DEVICE = `/dev/virtio-ports/${GUESTINFO_PORT_NAME}`;

/** Keys the channel may read and write: only `guestinfo.*`, as on ESXi. No whitespace. */
const KEY_PATTERN = /^guestinfo\.[!-~]+$/;

export type GuestInfoRequest =
  | { readonly op: 'get'; readonly key: string }
  | { readonly op: 'set'; readonly key: string; readonly value: string }
  /** Ask to be frozen for instant clone; answered only in a clone, after its restore. */
  | { readonly op: 'freeze' };

export type GuestInfoReply =
  | { readonly ok: true; readonly value: string | null }
  | { readonly ok: false; readonly error: string };

export function isGuestInfoKey(key: string): boolean {
  return KEY_PATTERN.test(key);
}

/** One request as a line (with its newline). Values are JSON strings so any text fits on a line. */
export function encodeRequest(r: GuestInfoRequest): string {
  if (r.op === 'freeze') return 'freeze\n';
  if (!isGuestInfoKey(r.key)) throw new Error(`not a guestinfo key: ${JSON.stringify(r.key)}`);
  return r.op === 'get' ? `get ${r.key}\n` : `set ${r.key} ${JSON.stringify(r.value)}\n`;
}

/** A request line (without its newline); throws with a message fit for an `err` reply. */
export function parseRequest(line: string): GuestInfoRequest {
  if (line === 'freeze') return { op: 'freeze' };
  const m = /^(get|set) (\S+)(?: (.*))?$/.exec(line);
  if (!m) throw new Error(`bad request: ${line.slice(0, 80)}`);
  const [, op, key, rest] = m;
  if (!isGuestInfoKey(key)) throw new Error(`not a guestinfo key: ${key}`);
  if (op === 'get') {
    if (rest !== undefined) throw new Error('get takes only a key');
    return { op, key };
  }
  if (rest === undefined) throw new Error('set needs a value');
  const value: unknown = JSON.parse(rest);
  if (typeof value !== 'string') throw new Error('set value must be a JSON string');
  return { op: 'set', key, value };
}

export function encodeReply(r: GuestInfoReply): string {
  return r.ok ? `ok ${JSON.stringify(r.value)}\n` : `err ${JSON.stringify(r.error)}\n`;
}

export function parseReply(line: string): GuestInfoReply {
  const m = /^(ok|err) (.*)$/.exec(line);
  if (!m) throw new Error(`bad reply: ${line.slice(0, 80)}`);
  const value: unknown = JSON.parse(m[2]);
  if (m[1] === 'ok') {
    if (value !== null && typeof value !== 'string') throw new Error('ok value must be a string or null');
    return { ok: true, value };
  }
  return { ok: false, error: typeof value === 'string' ? value : String(value) };
}

/**
 * The device of a named virtio-serial port. `/dev/virtio-ports/NAME` is a udev symlink, and
 * a bootstrap guest has no udev: then the name is read from sysfs and the kernel's own
 * node (`/dev/vportNpM`, made by devtmpfs) is used. The port shows up a moment after the
 * virtio_console driver loads, hence the wait.
 */
export async function findVirtioPort(name: string, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const link = `/dev/virtio-ports/${name}`;
    if (await exists(link)) return link;
    const ports = await readdir('/sys/class/virtio-ports').catch(() => [] as string[]);
    for (const port of ports) {
      const portName = await readFile(`/sys/class/virtio-ports/${port}/name`, 'utf8').catch(() => '');
      if (portName.trim() === name && (await exists(`/dev/${port}`))) return `/dev/${port}`;
    }
    if (Date.now() > deadline) throw new Error(`no virtio-serial port named ${name}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

interface Pending {
  resolve(value: string | null): void;
  reject(err: Error): void;
}

/**
 * A guestinfo channel. Requests are answered in order, so replies match a FIFO of pending
 * calls. The port is a character device: reads block a libuv pool thread, which is why
 * one read is kept outstanding at a time rather than a stream (fs streams assume files).
 */
export class GuestInfo {
  private readonly pending: Pending[] = [];
  private buffered = '';
  private closed = false;
  /** The last write: each waits for the one before (see call). */
  private writing: Promise<unknown> = Promise.resolve();

  private constructor(private readonly handle: FileHandle) {
    void this.readLoop();
  }

  /**
   * Opens the port (by default found by name, waiting up to `timeoutMs` for it to appear);
   * virtio-serial ports allow one opener, so keep one GuestInfo per process.
   */
  static async open(device?: string, timeoutMs = 10_000): Promise<GuestInfo> {
    const path = device ?? (await findVirtioPort(GUESTINFO_PORT_NAME, timeoutMs));
    return new GuestInfo(await open(path, 'r+'));
  }

  /** A `guestinfo.*` value from the VM's extraConfig, or undefined when unset. */
  async get(key: string): Promise<string | undefined> {
    const value = await this.call({ op: 'get', key });
    return value ?? undefined;
  }

  /** Writes a `guestinfo.*` key into the VM's extraConfig; '' removes it. */
  async set(key: string, value: string): Promise<void> {
    await this.call({ op: 'set', key, value });
  }

  /**
   * Asks to be frozen as an instant-clone template. Resolves only in a clone, once it has
   * been restored from the frozen state: the caller should then re-read its identity.
   */
  async freeze(): Promise<void> {
    await this.call({ op: 'freeze' });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.pending.splice(0)) p.reject(new Error('guestinfo channel closed'));
    await this.handle.close().catch(() => undefined);
  }

  private async call(r: GuestInfoRequest): Promise<string | null> {
    if (this.closed) throw new Error('guestinfo channel closed');
    const line = encodeRequest(r);
    const reply = new Promise<string | null>((resolve, reject) => this.pending.push({ resolve, reject }));
    // Writes run on libuv's thread pool: concurrent ones could reach the port in any order,
    // and replies are matched to calls by order. So each write waits for the previous one.
    const write = this.writing.then(() => this.handle.write(line));
    this.writing = write.catch(() => undefined);
    await write;
    return reply;
  }

  private async readLoop(): Promise<void> {
    const chunk = Buffer.alloc(64 * 1024);
    // A multi-byte character may straddle two reads.
    const decoder = new StringDecoder('utf8');
    while (!this.closed) {
      let n: number;
      try {
        ({ bytesRead: n } = await this.handle.read(chunk, 0, chunk.length, null));
      } catch (err) {
        if (this.closed) return;
        // EAGAIN-like hiccups while the host end reconnects (e.g. after a restore): retry.
        await new Promise((r) => setTimeout(r, 10));
        if ((err as NodeJS.ErrnoException).code === 'EBADF') return;
        continue;
      }
      if (n === 0) {
        // No host connected: the port reads EOF. Wait for it to come (back).
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      this.buffered += decoder.write(chunk.subarray(0, n));
      for (let nl = this.buffered.indexOf('\n'); nl >= 0; nl = this.buffered.indexOf('\n')) {
        const line = this.buffered.slice(0, nl);
        this.buffered = this.buffered.slice(nl + 1);
        const waiter = this.pending.shift();
        if (!waiter) continue; // a reply nobody asked for: ignore rather than misattribute
        try {
          const reply = parseReply(line);
          if (reply.ok) waiter.resolve(reply.value);
          else waiter.reject(new Error(`guestinfo: ${reply.error}`));
        } catch (err) {
          waiter.reject(err as Error);
        }
      }
    }
  }
}
