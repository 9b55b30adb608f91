/**
 * The few datastore operations the image store needs, behind an interface (why: the store
 * logic stays testable and the vSphere calls stay in src/vsphere). `VsphereImageDatastore`
 * implements it with the vSphere room's FileManager calls and streaming /folder transfers.
 */
import { Readable } from 'node:stream';
import {
  type DatacenterRef,
  DatastoreTransferError,
  deleteDatastoreFile,
  downloadDatastoreFile,
  formatDatastorePath,
  makeDirectory,
  moveDatastoreFile,
  uploadDatastoreFile,
  uploadLocalFile,
} from '../../../vsphere/datastore';
import { FileAlreadyExistsError, FileNotFoundError } from '../../../vsphere/faults';
import type { VimContext } from '../../../vsphere/tasks';

/** Paths are relative to the datastore's root, '/'-separated. */
export interface ImageDatastore {
  /** Datastore path text (`[ds] path`) for a relative path: what VM disk backings name. */
  datastorePath(path: string): string;
  /** A small file's bytes, or undefined when it does not exist. */
  readFile(path: string, signal?: AbortSignal): Promise<Buffer | undefined>;
  writeFile(path: string, data: Buffer, signal?: AbortSignal): Promise<void>;
  uploadFile(localPath: string, path: string, signal?: AbortSignal): Promise<void>;
  /** Creates a folder and its parents; fine if it exists. */
  makeDirectory(path: string): Promise<void>;
  /** Moves a file or folder; false when `to` exists already (and `replace` is not set). */
  move(from: string, to: string, replace?: boolean): Promise<boolean>;
  /** Deletes a file or folder with its contents; fine if it does not exist. */
  delete(path: string): Promise<void>;
}

export class VsphereImageDatastore implements ImageDatastore {
  constructor(
    private readonly ctx: VimContext,
    private readonly dc: DatacenterRef,
    readonly datastore: string,
  ) {}

  datastorePath(path: string): string {
    return formatDatastorePath(this.datastore, path);
  }

  async readFile(path: string, signal?: AbortSignal): Promise<Buffer | undefined> {
    let body: Readable;
    try {
      body = await downloadDatastoreFile(this.ctx.client, this.dc, this.datastorePath(path), signal ? { signal } : {});
    } catch (error) {
      if (error instanceof DatastoreTransferError && error.status === 404) return undefined;
      throw error;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async writeFile(path: string, data: Buffer, signal?: AbortSignal): Promise<void> {
    await uploadDatastoreFile(this.ctx.client, this.dc, this.datastorePath(path), Readable.from([data]), {
      size: data.length,
      ...(signal ? { signal } : {}),
    });
  }

  async uploadFile(localPath: string, path: string, signal?: AbortSignal): Promise<void> {
    await uploadLocalFile(this.ctx.client, this.dc, localPath, this.datastorePath(path), signal ? { signal } : {});
  }

  async makeDirectory(path: string): Promise<void> {
    try {
      await makeDirectory(this.ctx.client, this.dc, this.datastorePath(path), true);
    } catch (error) {
      if (!(error instanceof FileAlreadyExistsError)) throw error;
    }
  }

  async move(from: string, to: string, replace = false): Promise<boolean> {
    try {
      await moveDatastoreFile(this.ctx, this.dc, this.datastorePath(from), this.datastorePath(to), { force: replace });
      return true;
    } catch (error) {
      if (error instanceof FileAlreadyExistsError) return false;
      throw error;
    }
  }

  async delete(path: string): Promise<void> {
    try {
      await deleteDatastoreFile(this.ctx, this.dc, this.datastorePath(path));
    } catch (error) {
      if (!(error instanceof FileNotFoundError)) throw error;
    }
  }
}
