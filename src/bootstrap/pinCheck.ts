/**
 * Tells whether the pinned packages can still be downloaded and what Debian offers now.
 * Debian removes superseded versions from its mirrors (a kernel in bookworm-security lasts
 * until the next security update), so a pin that built yesterday can fail on a fresh machine
 * today; `vch bootstrap --check-pins` says which pin to move, and to what.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { type DebianPackage, PACKAGES } from './pins';

const run = promisify(execFile);

export interface Policy {
  candidate?: string;
  /** Versions apt can download (listed with a repository, not only as installed). */
  downloadable: string[];
}

/** Parses `apt-cache policy PKG` for one package. */
export function parsePolicy(text: string): Policy {
  const candidate = /^\s*Candidate:\s*(\S+)/m.exec(text)?.[1];
  const downloadable: string[] = [];
  let version: string | undefined;
  for (const line of text.split('\n')) {
    const v = /^ (?:\*\*\*| {3}) (\S+) -?\d+$/.exec(line);
    if (v) {
      version = v[1];
      continue;
    }
    const source = /^ {8}-?\d+ (\S+)/.exec(line);
    if (version && source && source[1] !== '/var/lib/dpkg/status' && !downloadable.includes(version)) {
      downloadable.push(version);
    }
  }
  return { candidate: candidate === '(none)' ? undefined : candidate, downloadable };
}

export interface PinStatus {
  pin: DebianPackage;
  available: boolean;
  /** What to pin instead: the current candidate (for the kernel, the package the metapackage depends on). */
  current?: DebianPackage;
}

async function policy(name: string): Promise<Policy> {
  const { stdout } = await run('apt-cache', ['policy', name]);
  return parsePolicy(stdout);
}

export async function checkPins(): Promise<PinStatus[]> {
  const out: PinStatus[] = [];
  for (const [role, pin] of Object.entries(PACKAGES) as Array<[string, DebianPackage]>) {
    const mine = await policy(pin.name);
    let current: DebianPackage | undefined = mine.candidate ? { name: pin.name, version: mine.candidate } : undefined;
    if (role === 'kernel') {
      // The ABI-versioned package changes name; follow the metapackage to today's one.
      const { stdout } = await run('apt-cache', ['depends', 'linux-image-cloud-amd64']);
      const name = /Depends: (linux-image-\S+)/.exec(stdout)?.[1];
      const candidate = name ? (await policy(name)).candidate : undefined;
      current = name && candidate ? { name, version: candidate } : undefined;
    }
    out.push({ pin, available: mine.downloadable.includes(pin.version), current });
  }
  return out;
}
