/** The image store: layer disks and image metadata on the image datastore. */
export { DiffIdMismatchError, LayerDiskBuildError } from './build-layer-disk';
export { type ImageDatastore, VsphereImageDatastore } from './image-datastore';
export {
  AmbiguousImageError,
  ImageIndex,
  type ImageIndexDocument,
  ImageInUseError,
  ImageNotFoundError,
  type StoredImage,
  type StoredLayer,
} from './image-index';
export { ImageStoreService, toPortLayerError, toProgressEvent } from './image-service';
export {
  type DeleteResult,
  type HistoryItem,
  type ImageLayerSummary,
  ImageStore,
  type ImageStoreOptions,
  type ImageSummary,
  type PullOptions,
  type PullResult,
} from './image-store';
export { ImageStoreLayout } from './layout';
export { type LayerStatus, type PullEvent, shortLayerId, statusText } from './progress';
export { UnsupportedLayerCompressionError } from './unpack-layer';
export { flatVmdkDescriptor } from './vmdk-descriptor';
