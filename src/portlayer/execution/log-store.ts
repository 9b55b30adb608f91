/**
 * `docker logs` kept on the datastore, so a container's output survives the VCH: the
 * output of every run of a container, in files beside its VM's own (the VM's home folder),
 * in the format and ring of log-format.ts (at most MAX_SEGMENTS × SEGMENT_BYTES, 1 MiB).
 *
 * Flushes are batched: output waits at most FLUSH_INTERVAL_MS, a run's end flushes at once,
 * and one write is in flight at a time. Writing never blocks nor breaks the live output
 * (MainSession hands chunks over synchronously); failures are logged and retried a few
 * times, never thrown.
 */
import { datastorePathDir, parseDatastorePath } from '../../vsphere/datastore';
import { PropertyCollector } from '../../vsphere/propertyCollector';
import type { VimContext } from '../../vsphere/tasks';
import type { ManagedObjectReference } from '../../vsphere/vim25/values';
import type { ImageDatastore } from '../storage/images/image-datastore';
import {
  appendRecords,
  type DecodedSegment,
  decodeSegment,
  encodeRecord,
  type LogRecord,
  MAX_SEGMENTS,
  orderRecords,
  resumeAt,
  SEGMENT_BYTES,
  type Segment,
  segmentBytes,
  slotOf,
} from './log-format';
import type { LogChunk, LogSink } from './main-session';

export const FLUSH_INTERVAL_MS = 1000;
/** Failed writes are tried again this many times (the next output tries again too). */
const MAX_RETRIES = 3;
/** Output held while the datastore cannot be written: no more than the ring would keep. */
const PENDING_LIMIT = MAX_SEGMENTS * SEGMENT_BYTES;

/** The slot files' names in the VM's folder. */
export function logFileName(slot: number): string {
  return `output-${slot}.vchlog`;
}

/**
 * The VM's home folder relative to the datastore's root (the folder of
 * `config.files.vmPathName`): where its files are, whatever the VM is called now.
 */
export async function vmHomeFolder(ctx: VimContext, vm: ManagedObjectReference, datastore: string): Promise<string> {
  const { props } = await new PropertyCollector(ctx.client).retrieveOne(vm, ['config.files.vmPathName']);
  const vmx = props['config.files.vmPathName'];
  if (typeof vmx !== 'string') throw new Error(`VM ${vm.value} has no config.files.vmPathName`);
  const home = datastorePathDir(parseDatastorePath(vmx));
  if (home.datastore !== datastore) throw new Error(`VM ${vm.value} lives on [${home.datastore}], not [${datastore}]`);
  return home.path;
}

export interface LogStoreOptions {
  readonly files: ImageDatastore;
  /** The VM's folder on the datastore (vmHomeFolder); asked once, again after a failure. */
  readonly folder: () => Promise<string>;
  /** Names the container in messages. */
  readonly label: string;
  readonly log: (msg: string) => void;
}

/** One container's output files: written by the runs' MainSessions (as their LogSink), read by `docker logs`. */
export class ContainerLogStore implements LogSink {
  private pending: LogRecord[] = [];
  private pendingBytes = 0;
  /** The segment being appended to; undefined until read back from the datastore. */
  private current: Segment | undefined;
  /** `current` has records the datastore does not. */
  private dirty = false;
  /** Closed segments whose last version is not written yet (oldest first). */
  private unwritten: Segment[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** Every write, one after another; never rejects. */
  private chain: Promise<void> = Promise.resolve();
  /** A flush waiting behind the chain: later calls join it instead of queueing more. */
  private queued: Promise<void> | undefined;
  private folderOf: Promise<string> | undefined;
  private failures = 0;
  /** The last run ended: once all is written, let go of the segment (it is on the datastore). */
  private idle = false;
  private stopped = false;

  constructor(private readonly o: LogStoreOptions) {}

  kept(run: string, chunk: LogChunk): void {
    if (this.stopped) return;
    this.idle = false;
    this.pending.push({ ...chunk, run });
    this.pendingBytes += chunk.data.length;
    while (this.pendingBytes > PENDING_LIMIT && this.pending.length > 1) {
      this.pendingBytes -= this.pending.shift()!.data.length;
    }
    this.schedule();
  }

  ended(): void {
    this.idle = true;
    void this.flush();
  }

  /** Writes what is pending now; resolves when written or failed (failures are logged). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.queued) {
      const next = this.chain.then(() => {
        this.queued = undefined;
        return this.write();
      });
      this.queued = next;
      this.chain = next;
    }
    return this.queued;
  }

  /** Every persisted record, oldest first; what cannot be read is logged and left out. */
  async read(): Promise<LogRecord[]> {
    let folder: string;
    try {
      folder = await this.folder();
    } catch (error) {
      this.o.log(`logs of ${this.o.label}: ${message(error)}`);
      return [];
    }
    const { found, failed } = await this.readSlots(folder);
    for (const f of failed) this.o.log(`logs of ${this.o.label}: reading ${logFileName(f.slot)}: ${message(f.error)}`);
    return orderRecords(found.map((f) => f.decoded));
  }

  /**
   * No more writes (a write after the files' removal would bring them back) once the one in
   * flight is done; the folder is looked up now, while the VM still exists.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.chain;
    await this.folder().catch(() => undefined);
  }

  /** Deletes the files (after stop): Destroy_Task on vSphere deletes only the files the VM knows. */
  async deleteFiles(): Promise<void> {
    let folder: string;
    try {
      folder = await this.folder();
    } catch (error) {
      this.o.log(`logs of ${this.o.label} not deleted: ${message(error)}`);
      return;
    }
    await Promise.all(
      slots().map((slot) =>
        this.o.files
          .delete(`${folder}/${logFileName(slot)}`)
          .catch((error: unknown) =>
            this.o.log(`logs of ${this.o.label}: deleting ${logFileName(slot)}: ${message(error)}`),
          ),
      ),
    );
  }

  private schedule(): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, FLUSH_INTERVAL_MS);
    // Pending output must not keep a closing process alive.
    this.timer.unref();
  }

  private async write(): Promise<void> {
    if (this.stopped) return;
    if (this.pending.length === 0 && !this.dirty && this.unwritten.length === 0) {
      // A run that ended with nothing new to write: nothing to read back either.
      if (this.idle) this.current = undefined;
      return;
    }
    try {
      const folder = await this.folder();
      if (!this.current) this.current = await this.resume(folder);
      const records = this.pending;
      this.pending = [];
      this.pendingBytes = 0;
      const { closed, current } = appendRecords(this.current, records.map(encodeRecord));
      if (records.length > 0) this.dirty = true;
      this.current = current;
      // Older closed segments than the ring holds would be overwritten anyway.
      this.unwritten = [...this.unwritten, ...closed].filter((s) => s.number > current.number - MAX_SEGMENTS);
      while (this.unwritten[0]) {
        await this.put(folder, this.unwritten[0]);
        this.unwritten.shift();
      }
      if (this.dirty) {
        await this.put(folder, current);
        this.dirty = false;
      }
      this.failures = 0;
      if (this.idle && this.pending.length === 0) this.current = undefined;
    } catch (error) {
      this.o.log(`logs of ${this.o.label} not written: ${message(error)}`);
      if (++this.failures <= MAX_RETRIES) this.schedule();
    }
  }

  private put(folder: string, s: Segment): Promise<void> {
    return this.o.files.writeFile(`${folder}/${logFileName(slotOf(s.number))}`, segmentBytes(s));
  }

  /** Where this VCH goes on: after what earlier runs (or an earlier VCH) wrote. */
  private async resume(folder: string): Promise<Segment> {
    const { found, failed } = await this.readSlots(folder);
    // Writing without knowing the newest segment could overwrite it: try again later.
    if (failed[0]) throw failed[0].error;
    return resumeAt(found);
  }

  /** The slots' segments (a missing file is no failure: the ring is not full yet). */
  private async readSlots(folder: string): Promise<{
    found: { buf: Buffer; decoded: DecodedSegment }[];
    failed: { slot: number; error: unknown }[];
  }> {
    const found: { buf: Buffer; decoded: DecodedSegment }[] = [];
    const failed: { slot: number; error: unknown }[] = [];
    await Promise.all(
      slots().map(async (slot) => {
        try {
          const buf = await this.o.files.readFile(`${folder}/${logFileName(slot)}`);
          const decoded = buf && decodeSegment(buf);
          if (buf && decoded) found.push({ buf, decoded });
        } catch (error) {
          failed.push({ slot, error });
        }
      }),
    );
    return { found, failed };
  }

  private folder(): Promise<string> {
    if (!this.folderOf) {
      this.folderOf = this.o.folder().catch((error: unknown) => {
        this.folderOf = undefined;
        throw error;
      });
    }
    return this.folderOf;
  }
}

function slots(): number[] {
  return Array.from({ length: MAX_SEGMENTS }, (_, i) => i);
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
