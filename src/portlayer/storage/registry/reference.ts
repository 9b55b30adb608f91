/**
 * Image references parsed the way Docker's distribution/reference normalises them, so that
 * `busybox`, `docker.io/library/busybox:latest` and `index.docker.io/busybox` name one image.
 * Pure: no I/O.
 */

/** The registry Docker means when a reference names none. */
export const DOCKER_HUB_DOMAIN = 'docker.io';
/** Where Docker Hub's Registry API actually lives (docker.io itself only redirects). */
export const DOCKER_HUB_API_HOST = 'registry-1.docker.io';
const LEGACY_HUB_DOMAIN = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';
const DEFAULT_TAG = 'latest';
const NAME_TOTAL_LENGTH_MAX = 255;

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const PORT = /^[0-9]+$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const SHA256_HEX = /^[a-f0-9]{64}$/;

export interface ImageReference {
  /** Registry host as written, normalised: `docker.io`, `localhost:5000`, `[::1]:5000`. */
  readonly domain: string;
  /** Repository path inside the registry: `library/busybox`. */
  readonly path: string;
  /** Tag; `latest` when the reference gave neither tag nor digest. */
  readonly tag?: string;
  /** `sha256:…` when pinned by digest (Docker then ignores any tag for the pull). */
  readonly digest?: string;
}

export class InvalidReferenceError extends Error {
  constructor(
    readonly reference: string,
    reason: string,
  ) {
    super(`invalid reference format: ${reason}: ${JSON.stringify(reference)}`);
    this.name = 'InvalidReferenceError';
  }
}

function isDomain(component: string): boolean {
  // Docker's rule: the first component is a host only if it looks like one; otherwise
  // `foo/bar` is a Docker Hub user repository.
  return (
    component.includes('.') ||
    component.includes(':') ||
    component === 'localhost' ||
    component !== component.toLowerCase()
  );
}

function validDomain(domain: string): boolean {
  let host = domain;
  let port: string | undefined;
  if (domain.startsWith('[')) {
    const end = domain.indexOf(']');
    if (end < 0) return false;
    host = domain.slice(1, end);
    const rest = domain.slice(end + 1);
    if (rest !== '' && !rest.startsWith(':')) return false;
    port = rest ? rest.slice(1) : undefined;
    if (!/^[0-9a-fA-F:.]+$/.test(host)) return false;
  } else {
    const colon = domain.lastIndexOf(':');
    if (colon >= 0) {
      port = domain.slice(colon + 1);
      host = domain.slice(0, colon);
    }
    if (!host.split('.').every((c) => DOMAIN_COMPONENT.test(c))) return false;
  }
  return port === undefined || PORT.test(port);
}

/** Parses and normalises a reference; throws InvalidReferenceError like `docker pull` would. */
export function parseReference(input: string): ImageReference {
  const ref = input.trim();
  if (ref === '') throw new InvalidReferenceError(input, 'repository name must have at least one component');
  let remainder = ref;
  let digest: string | undefined;
  const at = remainder.indexOf('@');
  if (at >= 0) {
    digest = remainder.slice(at + 1);
    remainder = remainder.slice(0, at);
    if (!DIGEST.test(digest)) throw new InvalidReferenceError(input, 'invalid digest');
    if (digest.startsWith('sha256:') && !SHA256_HEX.test(digest.slice(7))) {
      throw new InvalidReferenceError(input, 'invalid sha256 digest');
    }
  }
  let tag: string | undefined;
  const lastSlash = remainder.lastIndexOf('/');
  const lastColon = remainder.lastIndexOf(':');
  if (lastColon > lastSlash) {
    tag = remainder.slice(lastColon + 1);
    remainder = remainder.slice(0, lastColon);
    if (!TAG.test(tag)) throw new InvalidReferenceError(input, 'invalid tag');
  }
  let domain = DOCKER_HUB_DOMAIN;
  let path = remainder;
  const firstSlash = remainder.indexOf('/');
  if (firstSlash >= 0 && isDomain(remainder.slice(0, firstSlash))) {
    domain = remainder.slice(0, firstSlash);
    path = remainder.slice(firstSlash + 1);
    if (!validDomain(domain)) throw new InvalidReferenceError(input, 'invalid registry host');
  }
  if (domain === LEGACY_HUB_DOMAIN) domain = DOCKER_HUB_DOMAIN;
  if (path === '') throw new InvalidReferenceError(input, 'repository name must have at least one component');
  if (path !== path.toLowerCase()) throw new InvalidReferenceError(input, 'repository name must be lowercase');
  if (domain === DOCKER_HUB_DOMAIN && !path.includes('/')) {
    if (SHA256_HEX.test(path)) {
      throw new InvalidReferenceError(input, 'cannot specify 64-byte hexadecimal strings as a repository name');
    }
    path = OFFICIAL_REPO_PREFIX + path;
  }
  if (!path.split('/').every((c) => PATH_COMPONENT.test(c))) {
    throw new InvalidReferenceError(input, 'invalid repository name');
  }
  if (domain.length + 1 + path.length > NAME_TOTAL_LENGTH_MAX) {
    throw new InvalidReferenceError(input, `repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`);
  }
  if (tag === undefined && digest === undefined) tag = DEFAULT_TAG;
  return { domain, path, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** `docker.io/library/busybox` — the fully qualified repository name. */
export function repositoryName(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The full canonical string: `docker.io/library/busybox:latest`, `host:5000/x@sha256:…`. */
export function formatReference(ref: ImageReference): string {
  return (
    repositoryName(ref) +
    (ref.tag !== undefined ? `:${ref.tag}` : '') +
    (ref.digest !== undefined ? `@${ref.digest}` : '')
  );
}

/** The short form Docker prints: `busybox:latest`, `user/app:1`, `host:5000/x:tag`. */
export function familiarReference(ref: ImageReference): string {
  let name = repositoryName(ref);
  if (ref.domain === DOCKER_HUB_DOMAIN) {
    name = ref.path.startsWith(OFFICIAL_REPO_PREFIX) ? ref.path.slice(OFFICIAL_REPO_PREFIX.length) : ref.path;
  }
  return name + (ref.tag !== undefined ? `:${ref.tag}` : '') + (ref.digest !== undefined ? `@${ref.digest}` : '');
}

/** What to ask the registry for: the digest when pinned, else the tag. */
export function manifestReference(ref: ImageReference): string {
  return ref.digest ?? ref.tag ?? DEFAULT_TAG;
}

/** The host that serves the Registry API for a reference's domain. */
export function registryApiHost(domain: string): string {
  return domain === DOCKER_HUB_DOMAIN ? DOCKER_HUB_API_HOST : domain;
}
