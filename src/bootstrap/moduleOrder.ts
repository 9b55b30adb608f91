/**
 * Orders kernel modules for `insmod`: the closure of the wanted ones over `depends=`, each
 * module after everything it depends on. busybox `insmod` resolves nothing by itself.
 */

export interface ModuleNode {
  name: string;
  depends: string[];
}

/**
 * Returns the wanted modules and their dependencies, dependencies first. Ties are broken by
 * name so the order (and so the initramfs) is the same on every build.
 * Names in `builtin` are satisfied by the kernel itself and are left out.
 */
export function orderModules(
  wanted: readonly string[],
  available: ReadonlyMap<string, ModuleNode>,
  builtin: ReadonlySet<string> = new Set(),
): string[] {
  const order: string[] = [];
  const done = new Set<string>();
  const visiting: string[] = [];
  const visit = (name: string, wantedBy: string | undefined): void => {
    if (done.has(name) || builtin.has(name)) return;
    if (visiting.includes(name)) throw new Error(`module dependency cycle: ${[...visiting, name].join(' -> ')}`);
    const node = available.get(name);
    if (!node) throw new Error(`kernel module ${name} not found${wantedBy ? ` (needed by ${wantedBy})` : ''}`);
    visiting.push(name);
    for (const dep of [...node.depends].sort()) visit(dep, name);
    visiting.pop();
    done.add(name);
    order.push(name);
  };
  for (const name of [...wanted].sort()) visit(name, undefined);
  return order;
}
