/** The box's offline registry: Debian's docker-registry plus images built from Debian packages. */
export type { KeyPair } from './certificates';
export { htpasswdFile, htpasswdLine, type TestUser } from './htpasswd';
export { type BuiltLayer, buildLayer, buildTar, type LayerEntry, opaqueMarkerPath, whiteoutPath } from './layer-tar';
export { type PushedTestImage, type PushedTestImages, type PushTarget, pushTestImages } from './push-test-images';
export * from './test-image-specs';
export { type BuiltTestImage, type BuiltTestImages, buildTestImages, defaultCacheDir, readBlob } from './test-images';
export {
  DOCKER_REGISTRY_BINARY,
  startTestRegistry,
  type TestRegistry,
  type TestRegistryAuth,
  type TestRegistryOptions,
} from './test-registry';
export { startTokenServer, type TokenServer, type TokenServerOptions } from './token-server';
