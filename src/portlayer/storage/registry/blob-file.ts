/**
 * Downloads a blob to a file so that the file exists only when complete and verified: the
 * bytes go to `<path>.partial`, renamed into place after the digest checks, removed on error.
 */
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import type { Descriptor } from './manifest-types';
import type { DownloadOptions, RegistryRepository } from './repository';

export async function downloadBlobToFile(
  repository: RegistryRepository,
  desc: Descriptor,
  path: string,
  options: DownloadOptions = {},
): Promise<void> {
  const partial = `${path}.partial`;
  const sink = createWriteStream(partial);
  // downloadBlob destroys the sink with its error and also rejects: report it once, there.
  sink.on('error', () => {});
  try {
    await repository.downloadBlob(desc, sink, options);
    await rename(partial, path);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}
