/**
 * The cache key of a bootstrap image: a SHA-256 over everything that goes into it, computed
 * before any download so that a cached build needs neither apt nor the network.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Files under `dir` (recursively, symlinks not followed) as sorted relative paths. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) out.push(relative(dir, path));
    }
  };
  await walk(dir);
  return out.sort();
}

/** SHA-256 of `dir`'s tree: each file's relative path and content hash. */
export async function sha256Tree(dir: string): Promise<Record<string, string>> {
  const tree: Record<string, string> = {};
  for (const file of await listFiles(dir)) tree[file] = await sha256File(join(dir, file));
  return tree;
}

/** Stable JSON (object keys sorted at every level), so the hash does not depend on key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    return `{${Object.keys(obj)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

export function hashInputs(inputs: unknown): string {
  return createHash('sha256').update(canonicalJson(inputs)).digest('hex');
}
