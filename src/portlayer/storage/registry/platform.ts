/**
 * Chooses the manifest for a platform from a manifest list / OCI index, as Docker does for
 * `docker pull` on linux/amd64. Pure: no I/O.
 */
import type { ImageIndex, Platform, PlatformDescriptor } from './manifest-types';

/** The platform container VMs run: Debian's amd64 kernel. */
export const DEFAULT_PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };

export class PlatformNotFoundError extends Error {
  constructor(
    readonly wanted: Platform,
    readonly available: readonly Platform[],
  ) {
    // Docker's wording, so scripts that grep for it keep working.
    super(
      `no matching manifest for ${formatPlatform(wanted)} in the manifest list entries` +
        (available.length > 0 ? ` (available: ${available.map(formatPlatform).join(', ')})` : ''),
    );
    this.name = 'PlatformNotFoundError';
  }
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((x) => x !== undefined && x !== '').join('/');
}

const ARCH_ALIASES: Readonly<Record<string, string>> = {
  x86_64: 'amd64',
  'x86-64': 'amd64',
  aarch64: 'arm64',
  armhf: 'arm',
  armel: 'arm',
  i386: '386',
};

/** Normalises `x86_64` → `amd64`, `aarch64` → `arm64` and arm64's default variant. */
export function normalizePlatform(p: Platform): Platform {
  const architecture = ARCH_ALIASES[p.architecture.toLowerCase()] ?? p.architecture.toLowerCase();
  let variant = p.variant?.toLowerCase();
  if (architecture === 'arm64' && variant === 'v8') variant = undefined;
  return { os: p.os.toLowerCase(), architecture, ...(variant ? { variant } : {}) };
}

/** Parses `linux/amd64`, `linux/arm64/v8`. */
export function parsePlatform(spec: string): Platform {
  const [os, architecture, variant] = spec.split('/');
  if (!os || !architecture) throw new Error(`invalid platform ${JSON.stringify(spec)}: want os/arch[/variant]`);
  return normalizePlatform({ os, architecture, ...(variant ? { variant } : {}) });
}

/**
 * Returns the descriptor for `wanted`: os and architecture must match; an exact variant
 * wins, otherwise the first entry without a variant, otherwise the first match. Entries with
 * no platform (attestations, `unknown/unknown`) never match.
 */
export function selectPlatform(index: ImageIndex, wanted: Platform = DEFAULT_PLATFORM): PlatformDescriptor {
  const want = normalizePlatform(wanted);
  const candidates = index.manifests.filter((m) => {
    if (!m.platform) return false;
    const p = normalizePlatform(m.platform);
    return p.os === want.os && p.architecture === want.architecture;
  });
  const variantOf = (m: PlatformDescriptor): string | undefined => normalizePlatform(m.platform!).variant;
  const chosen =
    (want.variant !== undefined ? candidates.find((m) => variantOf(m) === want.variant) : undefined) ??
    (want.variant === undefined ? candidates.find((m) => variantOf(m) === undefined) : undefined) ??
    (want.variant === undefined ? candidates[0] : undefined);
  if (!chosen) {
    const available = index.manifests.flatMap((m) => (m.platform ? [m.platform] : []));
    throw new PlatformNotFoundError(want, available);
  }
  return chosen;
}
