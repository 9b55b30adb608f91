/**
 * Where the image store keeps things under the VCH's folder on the image datastore:
 *
 *   images/index.json                      the images and their refs (the commit point)
 *   images/manifests/<hex>.json            manifest bytes as pulled (digest-verified)
 *   images/configs/<hex>.json              image config bytes (the image ID's content)
 *   images/layers/<diff-hex>/layer.vmdk    flat VMDK descriptor of the layer's ext4 disk
 *   images/layers/<diff-hex>/layer-flat.vmdk
 *   images/layers/<diff-hex>/layer.json    what the disk was built from
 *   images/tmp/<random>/                   a layer being built; moved into layers/ when whole
 *
 * Layer disks are keyed by the diff_id (digest of the uncompressed tar), not the blob
 * digest: the disk is made from the uncompressed content, so one content compressed two
 * ways is one disk. Pure.
 */
export const LAYER_DESCRIPTOR = 'layer.vmdk';
export const LAYER_EXTENT = 'layer-flat.vmdk';
export const LAYER_META = 'layer.json';

export function digestHex(digest: string): string {
  const m = /^sha256:([a-f0-9]{64})$/.exec(digest);
  if (!m) throw new RangeError(`not a sha256 digest: ${digest}`);
  return m[1]!;
}

export class ImageStoreLayout {
  /** `vchFolder` is the VCH's folder on the datastore, e.g. `my-vch`. */
  constructor(readonly vchFolder: string) {}

  private p(...segments: string[]): string {
    return [this.vchFolder, 'images', ...segments].filter((s) => s !== '').join('/');
  }
  get root(): string {
    return this.p();
  }
  get index(): string {
    return this.p('index.json');
  }
  get layersDir(): string {
    return this.p('layers');
  }
  get tmpDir(): string {
    return this.p('tmp');
  }
  tmp(name: string): string {
    return this.p('tmp', name);
  }
  layerDir(diffId: string): string {
    return this.p('layers', digestHex(diffId));
  }
  layerDescriptor(diffId: string): string {
    return `${this.layerDir(diffId)}/${LAYER_DESCRIPTOR}`;
  }
  layerMeta(diffId: string): string {
    return `${this.layerDir(diffId)}/${LAYER_META}`;
  }
  manifest(digest: string): string {
    return this.p('manifests', `${digestHex(digest)}.json`);
  }
  config(digest: string): string {
    return this.p('configs', `${digestHex(digest)}.json`);
  }
}
