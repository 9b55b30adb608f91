/**
 * `layer.json`, written beside a layer disk before the folder is moved into place: what the
 * disk was built from, so a later pull that finds it knows its sizes without the registry.
 */
export interface LayerMeta {
  readonly version: 1;
  readonly diffId: string;
  /** The blob it was built from (another image may carry the same content compressed otherwise). */
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
  readonly tarSize: number;
  readonly capacityBytes: number;
  readonly builtAt: string;
}

export function parseLayerMeta(bytes: Buffer, diffId: string): LayerMeta {
  const meta = JSON.parse(bytes.toString('utf8')) as Partial<LayerMeta>;
  if (meta.version !== 1 || meta.diffId !== diffId || typeof meta.tarSize !== 'number') {
    throw new Error(`layer ${diffId}: unreadable layer.json`);
  }
  return meta as LayerMeta;
}
