/**
 * Picks the kernel modules the guest needs out of the unpacked kernel package, in load order.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { readModuleInfo } from './modinfo';
import { type ModuleNode, orderModules } from './moduleOrder';

export interface KernelModule extends ModuleNode {
  file: string;
}

async function listKo(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await listKo(path)));
    else if (entry.name.endsWith('.ko')) found.push(path);
  }
  return found;
}

/** Module name as the kernel spells it from a path in modules.builtin (`-` becomes `_`). */
export function moduleNameOfPath(path: string): string {
  return (path.split('/').pop() ?? path).replace(/\.ko(\.\w+)?$/, '').replace(/-/g, '_');
}

/**
 * The wanted modules of the kernel unpacked at `root` (`lib/modules/<release>/...`) plus what
 * they depend on, dependencies first. Modules built into the kernel are left out.
 */
export async function selectModules(root: string, release: string, wanted: readonly string[]): Promise<KernelModule[]> {
  const base = join(root, 'lib/modules', release);
  const builtinList = await readFile(join(base, 'modules.builtin'), 'utf8');
  const builtin = new Set(builtinList.split('\n').filter(Boolean).map(moduleNameOfPath));
  const available = new Map<string, KernelModule>();
  for (const file of (await listKo(join(base, 'kernel'))).sort()) {
    const info = readModuleInfo(await readFile(file), moduleNameOfPath(file));
    available.set(info.name, { ...info, file: relative(base, file) });
  }
  return orderModules(wanted, available, builtin).map((name) => {
    const mod = available.get(name)!;
    return { ...mod, file: join(base, mod.file) };
  });
}
