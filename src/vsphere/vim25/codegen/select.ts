/**
 * Chooses the part of the vim25 schema that VCH carries (the full schema is ~3000 types).
 *
 * Starting from root methods and types, the selection is closed over
 *  - bases, field types, method parameter and return types;
 *  - subtypes of included types, except below the types in `noSubtypes` (only that type's
 *    own subtypes are skipped: DynamicData) and anywhere in the `closedHierarchies` (the
 *    type and all its descendants: MethodFault, Event…). Faults VCH handles are roots instead;
 *  - `ArrayOfX` wrapper types of every included X and of the primitives (they appear as
 *    `xsi:type` of anyType values, e.g. a property collector's `ArrayOfVirtualDevice`).
 * Types outside the selection are decoded generically at run time.
 */
import type { VimMethod, VimType } from '../typeTable';
import type { Schema } from './schema';

export interface SelectionRoots {
  readonly methods: readonly string[];
  readonly types: readonly string[];
  readonly noSubtypes: readonly string[];
  readonly closedHierarchies: readonly string[];
}

export interface Selection {
  readonly types: ReadonlyMap<string, VimType>;
  readonly methods: ReadonlyMap<string, VimMethod>;
}

const PRIMITIVE_ARRAYS = [
  'ArrayOfString',
  'ArrayOfBoolean',
  'ArrayOfByte',
  'ArrayOfShort',
  'ArrayOfInt',
  'ArrayOfLong',
  'ArrayOfFloat',
  'ArrayOfDouble',
  'ArrayOfDateTime',
  'ArrayOfBase64Binary',
  'ArrayOfAnyType',
  'ArrayOfManagedObjectReference',
];

/** Selects roots and their closure. Throws when a root is not in the schema. */
export function selectSchema(schema: Schema, roots: SelectionRoots): Selection {
  const types = new Set<string>();
  const methods = new Set<string>();
  const noSubtypes = new Set(roots.noSubtypes);
  const closed = new Set(roots.closedHierarchies);
  const inClosedHierarchy = (name: string): boolean => {
    for (let t = schema.types.get(name); t; t = t.kind === 'complex' && t.base ? schema.types.get(t.base) : undefined) {
      if (closed.has(t.name)) return true;
    }
    return false;
  };

  const queue: string[] = [];
  const addType = (name: string): void => {
    if (name.startsWith('xsd:') || name === 'ManagedObjectReference' || types.has(name)) return;
    if (!schema.types.has(name)) throw new Error(`type ${name} is not in the schema`);
    types.add(name);
    queue.push(name);
  };
  for (const m of roots.methods) {
    const method = schema.methods.get(m);
    if (!method) throw new Error(`method ${m} is not in the schema`);
    methods.add(m);
    for (const p of method.params) addType(p.type);
    if (method.returns) addType(method.returns.type);
  }
  for (const t of roots.types) addType(t);
  for (const t of PRIMITIVE_ARRAYS) if (schema.types.has(t)) addType(t);

  const close = (): void => {
    while (queue.length > 0) {
      const name = queue.shift()!;
      const t = schema.types.get(name)!;
      if (t.kind !== 'complex') continue;
      if (t.base) addType(t.base);
      for (const f of t.fields) addType(f.type);
      if (!noSubtypes.has(name) && !inClosedHierarchy(name)) {
        for (const sub of schema.subtypes.get(name) ?? []) addType(sub);
      }
    }
  };
  close();
  // ArrayOfX wrappers of what is included (their element types are included already).
  for (const name of [...types]) {
    const wrapper = `ArrayOf${name}`;
    if (schema.types.has(wrapper)) addType(wrapper);
  }
  close();

  const sortedTypes = new Map<string, VimType>();
  for (const name of [...types].sort()) sortedTypes.set(name, schema.types.get(name)!);
  const sortedMethods = new Map<string, VimMethod>();
  for (const name of [...methods].sort()) sortedMethods.set(name, schema.methods.get(name)!);
  return { types: sortedTypes, methods: sortedMethods };
}
