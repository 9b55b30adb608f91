/** The registry client of the image store: pull (and the little push the test registry needs). */
export { basicAuthorization, RegistryAuthenticator, repositoryScope } from './auth';
export { downloadBlobToFile } from './blob-file';
export {
  type LayerDownloadOptions,
  RegistryClient,
  type RegistryClientOptions,
  type ResolvedImage,
  type ResolveOptions,
} from './client';
export { mapWithConcurrency } from './concurrency';
export { DigestMismatchError, DigestVerifier, parseDigest, sha256Digest, UnsupportedDigestError } from './digest';
export { NotFoundError, RegistryError, UnauthorizedError } from './errors';
export * from './manifest-types';
export {
  DEFAULT_PLATFORM,
  formatPlatform,
  normalizePlatform,
  PlatformNotFoundError,
  parsePlatform,
  selectPlatform,
} from './platform';
export * from './reference';
export {
  decodeRegistryAuthHeader,
  encodeRegistryAuthHeader,
  InvalidRegistryAuthError,
  type RegistryCredentials,
} from './registry-auth-header';
export { type BlobProgress, type DownloadOptions, type FetchedManifest, RegistryRepository } from './repository';
export { type AuthChallenge, parseWwwAuthenticate } from './www-authenticate';
