/**
 * Interprets govmomi's Go declarations (see goSource.ts) as the vim25 schema, in the
 * table's own terms (typeTable.ts): complex types with their base and own fields, enums,
 * and methods with their parameters and return value.
 *
 * Go → XML Schema:
 *   string→xsd:string, int32→xsd:int, int64→xsd:long, int16→xsd:short, int8/byte→xsd:byte,
 *   bool→xsd:boolean, float32→xsd:float, float64→xsd:double, time.Time→xsd:dateTime,
 *   AnyType→xsd:anyType, BaseX→X (a polymorphic slot), ManagedObjectReference as is,
 *   `type X string` without constants (VersionURI)→xsd:string.
 * Optional (minOccurs=0): `,omitempty` or a pointer (`*bool`, `*int32`, `*T`).
 * Array (maxOccurs=unbounded): `[]T`.
 * `[]byte` is ambiguous in govmomi 0.24: it stands for both `xsd:byte` maxOccurs=unbounded and
 * `xsd:base64Binary`. It is read as a byte array unless listed in BASE64_FIELDS; `[][]byte`
 * is always an array of xsd:base64Binary.
 */
import type { VimComplexType, VimEnumType, VimField, VimMethod, VimType } from '../typeTable';
import type { GoField, GoSource, GoStruct } from './goSource';

/**
 * `[]byte` fields that the WSDL declares as xsd:base64Binary (one element, base64 text),
 * as `Type.field` (XML names). Every other `[]byte` is xsd:byte maxOccurs=unbounded.
 */
export const BASE64_FIELDS: ReadonlySet<string> = new Set([
  'VirtualMachineConfigInfo.vmxConfigChecksum',
  'EntityBackupConfig.configBlob',
  'HostSubSpecification.binaryData',
  // Outside VCH's selection today and not checked against a WSDL:
  'DownloadDescriptionTree.returnval',
  'GuestRegValueBinarySpec.value',
]);

const PRIMITIVES: Readonly<Record<string, string>> = {
  string: 'xsd:string',
  bool: 'xsd:boolean',
  int8: 'xsd:byte',
  byte: 'xsd:byte',
  int16: 'xsd:short',
  int32: 'xsd:int',
  int64: 'xsd:long',
  float32: 'xsd:float',
  float64: 'xsd:double',
  'time.Time': 'xsd:dateTime',
  AnyType: 'xsd:anyType',
  ManagedObjectReference: 'ManagedObjectReference',
};

export interface Schema {
  readonly types: ReadonlyMap<string, VimType>;
  readonly methods: ReadonlyMap<string, VimMethod>;
  /** Direct subtypes by base type name. */
  readonly subtypes: ReadonlyMap<string, readonly string[]>;
  /** Fields written with `typeattr` (polymorphic or anyType), as `Type.field`. */
  readonly polymorphic: ReadonlySet<string>;
}

export interface SchemaOptions {
  readonly base64Fields?: ReadonlySet<string>;
}

/** Builds the whole vim25 schema from parsed Go sources. */
export function buildSchema(go: GoSource, options: SchemaOptions = {}): Schema {
  const base64Fields = options.base64Fields ?? BASE64_FIELDS;
  // Go name → XML name for registered structs and string types; unregistered ones keep their Go name.
  const xmlNameOf = new Map<string, string>();
  for (const [xml, goName] of go.registry) {
    if (!xmlNameOf.has(goName) || xml === goName) xmlNameOf.set(goName, xml);
  }
  const xmlName = (goName: string): string => xmlNameOf.get(goName) ?? goName;

  const requestStructs = new Set<string>();
  const responseStructs = new Set<string>();
  const methodOfRequest = new Map<string, string>();
  for (const [alias, target] of go.aliases) {
    const req = go.structs.get(target);
    if (req && isRequest(req)) {
      requestStructs.add(target);
      methodOfRequest.set(alias, target);
      if (go.structs.has(`${alias}Response`)) responseStructs.add(`${alias}Response`);
    }
  }
  for (const s of go.structs.values()) if (isRequest(s)) requestStructs.add(s.name);

  const interfaceTarget = (goType: string): string | undefined => {
    if (!go.interfaces.has(goType)) return undefined;
    const target = go.registry.get(goType);
    if (target && go.structs.has(target)) return target;
    const stripped = goType.slice('Base'.length);
    return go.structs.has(stripped) ? stripped : undefined;
  };

  const polymorphic = new Set<string>();
  const mapField = (owner: string, f: GoField): VimField => {
    let t = f.goType;
    let optional = f.omitempty;
    let array = false;
    if (t.startsWith('*')) {
      optional = true;
      t = t.slice(1);
    }
    if (t === '[]byte' || t === '[]uint8') {
      if (base64Fields.has(`${owner}.${f.xmlName}`))
        return { name: f.xmlName, type: 'xsd:base64Binary', array, optional };
      return { name: f.xmlName, type: 'xsd:byte', array: true, optional };
    }
    if (t === '[][]byte') return { name: f.xmlName, type: 'xsd:base64Binary', array: true, optional };
    if (t.startsWith('[]')) {
      array = true;
      t = t.slice(2);
      if (t.startsWith('*')) t = t.slice(1);
    }
    let type: string | undefined = PRIMITIVES[t];
    if (!type) {
      const target = interfaceTarget(t);
      if (target) type = xmlName(target);
      else if (go.structs.has(t)) type = xmlName(t);
      else if (go.stringTypes.has(t)) type = (go.stringTypes.get(t)?.length ?? 0) > 0 ? xmlName(t) : 'xsd:string';
    }
    if (!type) throw new Error(`${owner}.${f.xmlName}: unknown Go type ${f.goType}`);
    if (f.typeattr) polymorphic.add(`${owner}.${f.xmlName}`);
    return { name: f.xmlName, type, array, optional };
  };

  const types = new Map<string, VimType>();
  const subtypes = new Map<string, string[]>();
  for (const s of go.structs.values()) {
    if (requestStructs.has(s.name) || responseStructs.has(s.name) || s.name === 'ManagedObjectReference') continue;
    if (s.fields.some((f) => f.special)) continue;
    const name = xmlName(s.name);
    if (s.embeds.length > 1) throw new Error(`${s.name}: more than one embedded struct`);
    const base = s.embeds[0] === undefined ? undefined : xmlName(s.embeds[0]);
    const fields = s.fields.map((f) => mapField(name, f));
    const t: VimComplexType =
      base === undefined ? { kind: 'complex', name, fields } : { kind: 'complex', name, base, fields };
    types.set(name, t);
    if (base !== undefined) {
      let list = subtypes.get(base);
      if (!list) {
        list = [];
        subtypes.set(base, list);
      }
      list.push(name);
    }
  }
  for (const [goName, values] of go.stringTypes) {
    if (values.length === 0) continue;
    const name = xmlName(goName);
    const t: VimEnumType = { kind: 'enum', name, values };
    types.set(name, t);
  }

  const methods = new Map<string, VimMethod>();
  for (const [alias, reqName] of methodOfRequest) {
    const req = go.structs.get(reqName)!;
    const name = xmlName(alias);
    const params = req.fields.slice(1).map((f) => mapField(name, f));
    const resp = go.structs.get(`${alias}Response`);
    const ret = resp?.fields.find((f) => f.xmlName === 'returnval');
    const m: VimMethod = ret ? { name, params, returns: mapField(name, ret) } : { name, params };
    methods.set(name, m);
  }

  return { types, methods, subtypes, polymorphic };
}

function isRequest(s: GoStruct): boolean {
  return s.embeds.length === 0 && s.fields[0]?.xmlName === '_this';
}

/** The base chain of a type, nearest first (not including the type itself). */
export function baseChain(types: ReadonlyMap<string, VimType>, name: string): string[] {
  const chain: string[] = [];
  let t = types.get(name);
  while (t?.kind === 'complex' && t.base !== undefined) {
    chain.push(t.base);
    t = types.get(t.base);
  }
  return chain;
}
