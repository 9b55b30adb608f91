/**
 * What the box's test images contain. Each is built from Debian's busybox-static plus small
 * layers of our own, chosen to exercise what a puller and a layer store must get right:
 * whiteouts, opaque directories, hard links, a non-root USER, an exposed port.
 */
import type { ContainerConfig } from '../../portlayer/storage/registry/manifest-types';
import { type LayerEntry, opaqueMarkerPath, whiteoutPath } from './layer-tar';

export type TestImageName = 'busybox' | 'layers' | 'nonroot' | 'httpd';

export interface TestImageSpec {
  readonly name: TestImageName;
  /** Repository path in the registry. */
  readonly repository: string;
  /** The first is the main tag; the second names the same manifest. */
  readonly tags: readonly [string, string];
  /** Tag of a manifest list / OCI index holding this image (amd64) and an arm64 placeholder. */
  readonly indexTag: string;
  /** Docker schema2 + manifest list, or OCI manifest + index: both formats get exercised. */
  readonly format: 'docker' | 'oci';
  /** Layers above the busybox base layer (which every image starts with). */
  readonly upperLayers: readonly (readonly LayerEntry[])[];
  readonly config: ContainerConfig;
}

export const DEFAULT_PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The page the httpd image serves on port 80. */
export const HTTPD_INDEX_HTML = '<!doctype html>\n<title>vch</title>\n<h1>hello from a container VM</h1>\n';

/** The non-root image's user. */
export const NONROOT_USER = { name: 'app', uid: 1000, gid: 1000, home: '/home/app' } as const;

/** The tag in library/busybox whose index has only an arm64 entry (no linux/amd64). */
export const ARM64_ONLY_TAG = 'arm64-only';

const PASSWD_BASE =
  'root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n';
const GROUP_BASE = 'root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n';

/** The busybox root filesystem: the static binary and one symlink per applet in /bin. */
export function busyboxLayerEntries(binary: Buffer, applets: readonly string[]): LayerEntry[] {
  const dirs: LayerEntry[] = [
    'bin',
    'dev',
    'etc',
    'home',
    'proc',
    'sbin',
    'sys',
    'usr',
    'usr/bin',
    'usr/sbin',
    'var',
    'var/www',
  ].map((path) => ({ type: 'directory', path }));
  return [
    ...dirs,
    { type: 'directory', path: 'root', mode: 0o700 },
    { type: 'directory', path: 'tmp', mode: 0o1777 },
    { type: 'file', path: 'bin/busybox', content: binary, mode: 0o755 },
    ...[...applets].sort().map((a): LayerEntry => ({ type: 'symlink', path: `bin/${a}`, target: 'busybox' })),
    { type: 'file', path: 'etc/passwd', content: PASSWD_BASE },
    { type: 'file', path: 'etc/group', content: GROUP_BASE },
  ];
}

export const TEST_IMAGE_SPECS: readonly TestImageSpec[] = [
  {
    name: 'busybox',
    repository: 'library/busybox',
    tags: ['latest', '1.35'],
    indexTag: 'multiarch',
    format: 'docker',
    upperLayers: [],
    config: { Env: [DEFAULT_PATH_ENV], Cmd: ['sh'] },
  },
  {
    name: 'layers',
    repository: 'vch-test/layers',
    tags: ['latest', 'v1'],
    indexTag: 'multiarch',
    format: 'oci',
    upperLayers: [
      [
        { type: 'directory', path: 'data' },
        { type: 'file', path: 'data/keep.txt', content: 'kept\n' },
        { type: 'file', path: 'data/gone.txt', content: 'deleted by the layer above\n' },
        { type: 'directory', path: 'data/opaque' },
        { type: 'file', path: 'data/opaque/old-a.txt', content: 'hidden by the opaque marker above\n' },
        { type: 'file', path: 'data/opaque/old-b.txt', content: 'hidden by the opaque marker above\n' },
      ],
      [
        { type: 'directory', path: 'data' },
        { type: 'file', path: whiteoutPath('data/gone.txt'), content: '' },
        { type: 'directory', path: 'data/opaque' },
        { type: 'file', path: opaqueMarkerPath('data/opaque'), content: '' },
        { type: 'file', path: 'data/opaque/new.txt', content: 'the only file left in data/opaque\n' },
        { type: 'directory', path: 'data/linked' },
        { type: 'file', path: 'data/linked/original.txt', content: 'one inode, two names\n' },
        { type: 'hardlink', path: 'data/linked/hardlink.txt', target: 'data/linked/original.txt' },
      ],
    ],
    config: { Env: [DEFAULT_PATH_ENV], Cmd: ['sh'] },
  },
  {
    name: 'nonroot',
    repository: 'vch-test/nonroot',
    tags: ['latest', 'v1'],
    indexTag: 'multiarch',
    format: 'oci',
    upperLayers: [
      [
        { type: 'file', path: 'etc/passwd', content: `${PASSWD_BASE}app:x:1000:1000:app:/home/app:/bin/sh\n` },
        { type: 'file', path: 'etc/group', content: `${GROUP_BASE}app:x:1000:\n` },
        { type: 'directory', path: 'home/app', uid: 1000, gid: 1000 },
        { type: 'file', path: 'home/app/hello.txt', content: 'owned by app\n', uid: 1000, gid: 1000 },
      ],
    ],
    config: { Env: [DEFAULT_PATH_ENV], Cmd: ['id'], User: NONROOT_USER.name, WorkingDir: NONROOT_USER.home },
  },
  {
    name: 'httpd',
    repository: 'vch-test/httpd',
    tags: ['latest', 'v1'],
    indexTag: 'multiarch',
    format: 'docker',
    upperLayers: [
      [
        { type: 'directory', path: 'www' },
        { type: 'file', path: 'www/index.html', content: HTTPD_INDEX_HTML },
      ],
    ],
    config: {
      Env: [DEFAULT_PATH_ENV],
      Cmd: ['httpd', '-f', '-v', '-p', '80', '-h', '/www'],
      ExposedPorts: { '80/tcp': {} },
    },
  },
];
