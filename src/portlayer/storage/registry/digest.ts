/** Content digests (`sha256:<hex>`): parsing, incremental hashing and verification. */
import { createHash, type Hash } from 'node:crypto';

const SUPPORTED: Readonly<Record<string, { hash: string; hexLength: number }>> = {
  sha256: { hash: 'sha256', hexLength: 64 },
  sha512: { hash: 'sha512', hexLength: 128 },
};

export class DigestMismatchError extends Error {
  constructor(
    readonly what: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`digest mismatch for ${what}: expected ${expected}, got ${actual}`);
    this.name = 'DigestMismatchError';
  }
}

export class UnsupportedDigestError extends Error {
  constructor(readonly digest: string) {
    super(`unsupported or malformed digest ${JSON.stringify(digest)}`);
    this.name = 'UnsupportedDigestError';
  }
}

/** Splits and checks a digest; throws UnsupportedDigestError for algorithms we cannot verify. */
export function parseDigest(digest: string): { algorithm: string; hex: string } {
  const colon = digest.indexOf(':');
  const algorithm = digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  const spec = SUPPORTED[algorithm];
  if (colon < 0 || !spec || hex.length !== spec.hexLength || !/^[a-f0-9]+$/.test(hex)) {
    throw new UnsupportedDigestError(digest);
  }
  return { algorithm, hex };
}

/** A running hash for the algorithm of `expected`, so a digest is checked as bytes stream by. */
export class DigestVerifier {
  private readonly hash: Hash;
  private readonly algorithm: string;

  constructor(
    private readonly expected: string,
    private readonly what: string,
  ) {
    this.algorithm = parseDigest(expected).algorithm;
    this.hash = createHash(SUPPORTED[this.algorithm]!.hash);
  }

  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
  }

  /** Throws DigestMismatchError unless the bytes seen hash to the expected digest. */
  verify(): string {
    const actual = `${this.algorithm}:${this.hash.digest('hex')}`;
    if (actual !== this.expected) throw new DigestMismatchError(this.what, this.expected, actual);
    return actual;
  }
}

export function sha256Digest(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Digest of `data` with the algorithm of `like` (manifests are named by the digest asked for). */
export function digestLike(like: string, data: Uint8Array): string {
  const { algorithm } = parseDigest(like);
  return `${algorithm}:${createHash(SUPPORTED[algorithm]!.hash).update(data).digest('hex')}`;
}
