/**
 * The type table, compiled once per table into the shapes the envelope writer and the
 * streaming decoder walk: each complex type gets its full field list (base first, as the
 * WSDL orders them on the wire) and a name → field map, so neither side ever walks the
 * base chain or searches a field list per element. Compilation is lazy (per type, on first
 * use) because the generated vim25 table holds thousands of types and a session touches few.
 */
import type { TypeTable, VimComplexType, VimField, VimMethod, VimType } from './typeTable';

// Kinds of compiled types. Plain numbers (not a const enum: ts-jest runs isolatedModules).
export const KIND_LEAF = 0; // xsd primitive or enum: text content
export const KIND_MOREF = 1; // ManagedObjectReference: `type` attribute + text
export const KIND_ANY = 2; // xsd:anyType: the actual type comes from xsi:type
export const KIND_COMPLEX = 3; // a vim25 data object
export const KIND_ARRAY = 4; // ArrayOfX: a JS array of X
export const KIND_UNKNOWN = 5; // a type name the table does not know: decoded generically

// Leaf conversions.
export const LEAF_STRING = 0;
export const LEAF_BOOLEAN = 1;
export const LEAF_INTEGER = 2;
export const LEAF_FLOAT = 3;
export const LEAF_DATETIME = 4;
export const LEAF_BASE64 = 5;

export interface CField {
  readonly name: string;
  readonly typeName: string;
  readonly array: boolean;
  readonly optional: boolean;
  /** Resolved on first use (see Compiled.fieldType). */
  type: CType | undefined;
}

export interface CType {
  /** The name as written in xsi:type: 'xsd:string', 'OptionValue', 'ArrayOfString'… */
  readonly name: string;
  readonly kind: number;
  /** For KIND_LEAF: one of the LEAF_* conversions. */
  readonly leaf: number;
  readonly isEnum: boolean;
  /** KIND_COMPLEX: all fields, base first. Empty otherwise. */
  readonly fields: readonly CField[];
  readonly byName: ReadonlyMap<string, CField>;
  /** KIND_COMPLEX: base type name, for subtype checks. */
  readonly base: string | undefined;
  /** KIND_ARRAY: the item type and the item element name (`string`, `OptionValue`…). */
  readonly item: CType | undefined;
  readonly itemElement: string;
}

const PRIMITIVE_LEAF: Readonly<Record<string, number>> = {
  'xsd:string': LEAF_STRING,
  'xsd:anyURI': LEAF_STRING,
  'xsd:boolean': LEAF_BOOLEAN,
  'xsd:byte': LEAF_INTEGER,
  'xsd:short': LEAF_INTEGER,
  'xsd:int': LEAF_INTEGER,
  'xsd:long': LEAF_INTEGER,
  'xsd:unsignedByte': LEAF_INTEGER,
  'xsd:unsignedShort': LEAF_INTEGER,
  'xsd:unsignedInt': LEAF_INTEGER,
  'xsd:unsignedLong': LEAF_INTEGER,
  'xsd:float': LEAF_FLOAT,
  'xsd:double': LEAF_FLOAT,
  'xsd:dateTime': LEAF_DATETIME,
  'xsd:base64Binary': LEAF_BASE64,
};

const EMPTY_FIELDS: readonly CField[] = [];
const EMPTY_MAP: ReadonlyMap<string, CField> = new Map();

function leafType(name: string, leaf: number, isEnum: boolean): CType {
  return {
    name,
    kind: KIND_LEAF,
    leaf,
    isEnum,
    fields: EMPTY_FIELDS,
    byName: EMPTY_MAP,
    base: undefined,
    item: undefined,
    itemElement: '',
  };
}

function simpleType(name: string, kind: number): CType {
  return {
    name,
    kind,
    leaf: LEAF_STRING,
    isEnum: false,
    fields: EMPTY_FIELDS,
    byName: EMPTY_MAP,
    base: undefined,
    item: undefined,
    itemElement: '',
  };
}

function cfield(f: VimField): CField {
  return { name: f.name, typeName: f.type, array: f.array, optional: f.optional, type: undefined };
}

export class Compiled {
  private readonly cache = new Map<string, CType>();
  private readonly methodCache = new Map<string, CMethod | null>();

  constructor(readonly table: TypeTable) {}

  /**
   * The compiled type for a name as it appears in the table or in an xsi:type value
   * (`xsd:` prefixed primitives; vim25 names unprefixed). Never throws: names the table
   * lacks become KIND_UNKNOWN (decoded generically) except ArrayOfX, which is synthesized.
   */
  type(name: string): CType {
    const hit = this.cache.get(name);
    if (hit !== undefined) return hit;
    const t = this.build(name);
    this.cache.set(name, t);
    return t;
  }

  /** Is `name` known: a primitive, MoRef, anyType, a table type, or ArrayOf a known type. */
  knows(name: string): boolean {
    return this.type(name).kind !== KIND_UNKNOWN;
  }

  fieldType(f: CField): CType {
    let t = f.type;
    if (t === undefined) {
      t = this.type(f.typeName);
      f.type = t;
    }
    return t;
  }

  /** True when `actual` is `declared` or derives from it. */
  isSubtype(actual: string, declared: string): boolean {
    let name: string | undefined = actual;
    for (let guard = 0; name !== undefined && guard < 64; guard++) {
      if (name === declared) return true;
      const t: VimType | undefined = Object.hasOwn(this.table.types, name) ? this.table.types[name] : undefined;
      name = t !== undefined && t.kind === 'complex' ? t.base : undefined;
    }
    return false;
  }

  method(name: string): CMethod | undefined {
    const hit = this.methodCache.get(name);
    if (hit !== undefined) return hit ?? undefined;
    const m: VimMethod | undefined = Object.hasOwn(this.table.methods, name) ? this.table.methods[name] : undefined;
    const cm: CMethod | null =
      m === undefined
        ? null
        : {
            name: m.name,
            params: m.params.map(cfield),
            returns: m.returns === undefined ? undefined : cfield(m.returns),
          };
    this.methodCache.set(name, cm);
    return cm ?? undefined;
  }

  private build(name: string): CType {
    const leaf = PRIMITIVE_LEAF[name];
    if (leaf !== undefined) return leafType(name, leaf, false);
    if (name === 'xsd:anyType') return simpleType(name, KIND_ANY);
    if (name === 'ManagedObjectReference') return simpleType(name, KIND_MOREF);
    const def = Object.hasOwn(this.table.types, name) ? this.table.types[name] : undefined;
    if (def !== undefined && def.kind === 'enum') return leafType(name, LEAF_STRING, true);
    if (name.startsWith('ArrayOf')) return this.buildArray(name);
    if (def === undefined) return simpleType(name, KIND_UNKNOWN);
    // Collect the base chain, root first, so fields come out in wire order.
    const chain: VimComplexType[] = [];
    for (let t: VimComplexType | undefined = def; t !== undefined && chain.length < 64; ) {
      chain.unshift(t);
      const base: string | undefined = t.base;
      const next: VimType | undefined =
        base !== undefined && Object.hasOwn(this.table.types, base) ? this.table.types[base] : undefined;
      t = next !== undefined && next.kind === 'complex' ? next : undefined;
    }
    const fields: CField[] = [];
    const byName = new Map<string, CField>();
    for (const t of chain) {
      for (const f of t.fields) {
        const cf = cfield(f);
        fields.push(cf);
        byName.set(f.name, cf);
      }
    }
    return {
      name,
      kind: KIND_COMPLEX,
      leaf: LEAF_STRING,
      isEnum: false,
      fields,
      byName,
      base: def.base,
      item: undefined,
      itemElement: '',
    };
  }

  /**
   * ArrayOfX wrappers (xsi:type values in anyType slots). The element name inside is the
   * primitive's XSD name (`<string>`, `<int>`) or the vim25 type name (`<OptionValue>`).
   * If the table carries the ArrayOf type, its single field says so; otherwise we derive it.
   */
  private buildArray(name: string): CType {
    const rest = name.slice('ArrayOf'.length);
    const def = Object.hasOwn(this.table.types, name) ? this.table.types[name] : undefined;
    let itemElement: string;
    let itemTypeName: string;
    if (def !== undefined && def.kind === 'complex' && def.fields.length === 1) {
      const f = def.fields[0];
      itemElement = f.name;
      itemTypeName = f.type;
    } else {
      const lower = rest.charAt(0).toLowerCase() + rest.slice(1);
      if (PRIMITIVE_LEAF[`xsd:${lower}`] !== undefined || lower === 'anyType') {
        itemElement = lower;
        itemTypeName = `xsd:${lower}`;
      } else {
        itemElement = rest;
        itemTypeName = rest;
      }
    }
    const item = this.type(itemTypeName);
    if (item.kind === KIND_UNKNOWN && def === undefined) return simpleType(name, KIND_UNKNOWN);
    return {
      name,
      kind: KIND_ARRAY,
      leaf: LEAF_STRING,
      isEnum: false,
      fields: EMPTY_FIELDS,
      byName: EMPTY_MAP,
      base: undefined,
      item,
      itemElement,
    };
  }
}

export interface CMethod {
  readonly name: string;
  readonly params: readonly CField[];
  readonly returns: CField | undefined;
}

const compiledTables = new WeakMap<TypeTable, Compiled>();

export function compile(table: TypeTable): Compiled {
  let c = compiledTables.get(table);
  if (c === undefined) {
    c = new Compiled(table);
    compiledTables.set(table, c);
  }
  return c;
}

/** The name of an xsi:type value: `xsd:int` stays prefixed, `vim25:OptionValue` → `OptionValue`. */
const XSD_LOCAL = new Set(['anyType', ...Object.keys(PRIMITIVE_LEAF).map((k) => k.slice(4))]);

const xsiCache = new Map<string, string>();

export function normalizeXsiType(raw: string): string {
  const hit = xsiCache.get(raw);
  if (hit !== undefined) return hit;
  const colon = raw.indexOf(':');
  const local = colon < 0 ? raw : raw.slice(colon + 1);
  const name = XSD_LOCAL.has(local) ? `xsd:${local}` : local;
  // Type names come from a finite schema; the bound only guards against a hostile server.
  if (xsiCache.size < 10000) xsiCache.set(raw, name);
  return name;
}
