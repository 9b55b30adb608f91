/**
 * The vim25 envelope writer. A real vCenter is strict where the simulator is lenient
 * (FACTS.md), so everything here follows the schema, not the JS value: parameters in the
 * method's WSDL order, fields base-first in WSDL order (never object key order),
 * `xsi:type` wherever the actual type is not the declared one, and strict XML escaping.
 */
import {
  type CField,
  type Compiled,
  type CType,
  compile,
  KIND_ANY,
  KIND_ARRAY,
  KIND_COMPLEX,
  KIND_LEAF,
  KIND_MOREF,
  LEAF_BASE64,
  LEAF_BOOLEAN,
  LEAF_DATETIME,
  LEAF_FLOAT,
  LEAF_INTEGER,
} from './compile';
import type { TypeTable } from './typeTable';
import { isManagedObjectReference, type ManagedObjectReference } from './values';

const ENVELOPE_OPEN =
  '<?xml version="1.0" encoding="UTF-8"?>\n' +
  '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"' +
  ' xmlns:xsd="http://www.w3.org/2001/XMLSchema"' +
  ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>';
const ENVELOPE_CLOSE = '</soapenv:Body></soapenv:Envelope>';

export class VimEncodeError extends Error {
  override readonly name = 'VimEncodeError';
}

/**
 * The SOAP request for `methodName` on `thisRef`. `params` are keyed by the WSDL parameter
 * names; absent optional ones are omitted. Throws VimEncodeError naming the type and field
 * for missing required values, wrong JS types, and characters XML 1.0 cannot carry.
 */
export function encodeRequest(
  table: TypeTable,
  methodName: string,
  thisRef: ManagedObjectReference,
  params: Readonly<Record<string, unknown>>,
): string {
  const c = compile(table);
  const method = c.method(methodName);
  if (method === undefined) throw new VimEncodeError(`unknown vim25 method ${methodName}`);
  for (const key of Object.keys(params)) {
    if (params[key] !== undefined && !method.params.some((p) => p.name === key)) {
      throw new VimEncodeError(`${methodName}: unknown parameter '${key}'`);
    }
  }
  const w: Writer = { c, s: `${ENVELOPE_OPEN}<${methodName} xmlns="urn:vim25">` };
  writeMoRef(w, '_this', thisRef, `${methodName}._this`, '');
  writeFields(w, method.params, params, methodName);
  w.s += `</${methodName}>${ENVELOPE_CLOSE}`;
  return w.s;
}

/** One value as the element `elementName` of declared type `typeName` (for tests and tools). */
export function encodeValue(table: TypeTable, elementName: string, typeName: string, value: unknown): string {
  const c = compile(table);
  const w: Writer = { c, s: '' };
  writeElement(w, elementName, c.type(typeName), value, elementName);
  return w.s;
}

interface Writer {
  readonly c: Compiled;
  // One growing string: V8 concatenation builds a rope, flattened once at the end.
  s: string;
}

type Fields = Readonly<Record<string, unknown>>;

function writeFields(w: Writer, fields: readonly CField[], obj: Fields, typeName: string): void {
  for (const f of fields) {
    const v = obj[f.name];
    if (v === undefined || v === null) {
      if (!f.optional) throw new VimEncodeError(`${typeName}.${f.name} is required`);
      continue;
    }
    const path = `${typeName}.${f.name}`;
    const t = w.c.fieldType(f);
    if (f.array) {
      if (!Array.isArray(v)) throw new VimEncodeError(`${path}: expected an array`);
      for (let i = 0; i < v.length; i++) {
        const item: unknown = v[i];
        if (item === undefined || item === null) throw new VimEncodeError(`${path}[${i}]: null item`);
        writeElement(w, f.name, t, item, `${path}[${i}]`);
      }
    } else {
      writeElement(w, f.name, t, v, path);
    }
  }
}

function writeElement(w: Writer, elem: string, declared: CType, value: unknown, path: string): void {
  switch (declared.kind) {
    case KIND_LEAF:
      w.s += `<${elem}>${leafText(declared, value, path)}</${elem}>`;
      return;
    case KIND_MOREF:
      writeMoRef(w, elem, value, path, '');
      return;
    case KIND_ANY:
      writeAny(w, elem, value, path);
      return;
    case KIND_COMPLEX:
      writeComplex(w, elem, declared, value, path);
      return;
    case KIND_ARRAY:
      writeArrayOf(w, elem, declared, value, path, '');
      return;
    default:
      throw new VimEncodeError(`${path}: type ${declared.name} is not in the vim25 type table`);
  }
}

function writeMoRef(w: Writer, elem: string, value: unknown, path: string, xsi: string): void {
  if (!isManagedObjectReference(value)) {
    throw new VimEncodeError(`${path}: expected a ManagedObjectReference {type, value}`);
  }
  w.s += `<${elem}${xsi} type="${escAttr(value.type, path)}">${escText(value.value, path)}</${elem}>`;
}

function isRecord(v: unknown): v is Fields {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date) && !Buffer.isBuffer(v);
}

function writeComplex(w: Writer, elem: string, declared: CType, value: unknown, path: string): void {
  if (!isRecord(value)) throw new VimEncodeError(`${path}: expected a ${declared.name} object`);
  const actualName = value._type;
  let t = declared;
  let xsi = '';
  if (typeof actualName === 'string' && actualName !== declared.name) {
    t = w.c.type(actualName);
    if (t.kind !== KIND_COMPLEX || !w.c.isSubtype(actualName, declared.name)) {
      throw new VimEncodeError(`${path}: ${actualName} is not a subtype of ${declared.name}`);
    }
    xsi = ` xsi:type="${actualName}"`;
  }
  w.s += `<${elem}${xsi}>`;
  writeFields(w, t.fields, value, t.name);
  w.s += `</${elem}>`;
}

/** An ArrayOfX wrapper: items as repeated item elements; `value` is a JS array or `{_type, item: [...]}`. */
function writeArrayOf(w: Writer, elem: string, t: CType, value: unknown, path: string, xsi: string): void {
  const item = t.item;
  if (item === undefined) throw new VimEncodeError(`${path}: ${t.name} has no item type`);
  let items: unknown = value;
  if (isRecord(value)) items = value[t.itemElement];
  if (items === undefined) items = [];
  if (!Array.isArray(items)) throw new VimEncodeError(`${path}: expected an array for ${t.name}`);
  w.s += `<${elem}${xsi}>`;
  for (let i = 0; i < items.length; i++) {
    const v: unknown = items[i];
    if (v === undefined || v === null) throw new VimEncodeError(`${path}[${i}]: null item`);
    writeElement(w, t.itemElement, item, v, `${path}[${i}]`);
  }
  w.s += `</${elem}>`;
}

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/** The xsi:type a JS value gets in an anyType slot (values.ts conventions). */
function anyTypeName(v: unknown): string | undefined {
  switch (typeof v) {
    case 'string':
      return 'xsd:string';
    case 'boolean':
      return 'xsd:boolean';
    case 'bigint':
      return 'xsd:long';
    case 'number':
      if (!Number.isInteger(v)) return 'xsd:double';
      return v >= INT32_MIN && v <= INT32_MAX ? 'xsd:int' : 'xsd:long';
    case 'object':
      if (v === null) return undefined;
      if (v instanceof Date) return 'xsd:dateTime';
      if (Buffer.isBuffer(v) || v instanceof Uint8Array) return 'xsd:base64Binary';
      if (isManagedObjectReference(v)) return 'ManagedObjectReference';
      if (Array.isArray(v)) return arrayTypeName(v);
      if (typeof (v as { _type?: unknown })._type === 'string') return (v as { _type: string })._type;
      return undefined;
    default:
      return undefined;
  }
}

/** ArrayOfX for a JS array in an anyType slot: the common item type, widening int → long → double. */
function arrayTypeName(items: readonly unknown[]): string {
  if (items.length === 0) return 'ArrayOfString';
  let common: string | undefined;
  for (const item of items) {
    const n = anyTypeName(item);
    if (n === undefined || n.startsWith('ArrayOf')) return 'ArrayOfAnyType';
    if (common === undefined || common === n) common = n;
    else if (NUMERIC_RANK[common] !== undefined && NUMERIC_RANK[n] !== undefined) {
      common = NUMERIC_RANK[common] > NUMERIC_RANK[n] ? common : n;
    } else return 'ArrayOfAnyType';
  }
  const name = common ?? 'xsd:string';
  if (name.startsWith('xsd:')) return `ArrayOf${name.charAt(4).toUpperCase()}${name.slice(5)}`;
  return `ArrayOf${name}`;
}

const NUMERIC_RANK: Readonly<Record<string, number>> = { 'xsd:int': 0, 'xsd:long': 1, 'xsd:double': 2 };

function writeAny(w: Writer, elem: string, value: unknown, path: string): void {
  const name = anyTypeName(value);
  if (name === undefined) {
    throw new VimEncodeError(`${path}: cannot tell the xsi:type of this value (objects need _type)`);
  }
  const t = w.c.type(name);
  const xsi = ` xsi:type="${name}"`;
  switch (t.kind) {
    case KIND_LEAF:
      w.s += `<${elem}${xsi}>${leafText(t, value, path)}</${elem}>`;
      return;
    case KIND_MOREF:
      writeMoRef(w, elem, value, path, xsi);
      return;
    case KIND_ARRAY:
      writeArrayOf(w, elem, t, value, path, xsi);
      return;
    case KIND_COMPLEX:
      w.s += `<${elem}${xsi}>`;
      writeFields(w, t.fields, value as Fields, t.name);
      w.s += `</${elem}>`;
      return;
    default:
      throw new VimEncodeError(`${path}: type ${name} is not in the vim25 type table`);
  }
}

function leafText(t: CType, v: unknown, path: string): string {
  switch (t.leaf) {
    case LEAF_BOOLEAN:
      if (typeof v !== 'boolean') throw new VimEncodeError(`${path}: expected a boolean`);
      return v ? 'true' : 'false';
    case LEAF_INTEGER:
      if (typeof v === 'bigint') return v.toString();
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
        throw new VimEncodeError(`${path}: expected an integer for ${t.name}`);
      }
      return String(v);
    case LEAF_FLOAT:
      if (typeof v !== 'number') throw new VimEncodeError(`${path}: expected a number`);
      if (Number.isNaN(v)) return 'NaN';
      if (v === Number.POSITIVE_INFINITY) return 'INF';
      if (v === Number.NEGATIVE_INFINITY) return '-INF';
      return String(v);
    case LEAF_DATETIME:
      if (!(v instanceof Date) || Number.isNaN(v.getTime())) throw new VimEncodeError(`${path}: expected a valid Date`);
      return v.toISOString();
    case LEAF_BASE64:
      if (!(v instanceof Uint8Array)) throw new VimEncodeError(`${path}: expected a Buffer`);
      return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
    default:
      if (typeof v !== 'string') throw new VimEncodeError(`${path}: expected a string for ${t.name}`);
      return escText(v, path);
  }
}

// XML 1.0 Char excludes C0 controls but tab/LF/CR, U+FFFE/U+FFFF and unpaired surrogates
// (with the u flag, [\uD800-\uDFFF] matches only unpaired ones). No escape can carry
// them (`&#1;` is as illegal as the raw byte), so refuse rather than corrupt the value.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const ILLEGAL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDFFF]/u;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const TEXT_SPECIAL = /[&<>"'\r\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF\uD800-\uDFFF]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const ATTR_SPECIAL = /[&<>"'\r\n\t\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF\uD800-\uDFFF]/;
const TEXT_REPLACE = /[&<>"'\r]/g;
const ATTR_REPLACE = /[&<>"'\r\n\t]/g;
const ENTITY: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
  // A parser turns a raw CR into LF, and raw whitespace in attributes into spaces.
  '\r': '&#xD;',
  '\n': '&#xA;',
  '\t': '&#x9;',
};
const entity = (ch: string): string => ENTITY[ch] ?? ch;

function checkLegal(s: string, path: string): void {
  const m = ILLEGAL.exec(s);
  if (m !== null) {
    const code = m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
    throw new VimEncodeError(`${path}: character U+${code} cannot be carried in XML 1.0`);
  }
}

export function escText(s: string, path = 'value'): string {
  if (!TEXT_SPECIAL.test(s)) return s;
  checkLegal(s, path);
  return s.replace(TEXT_REPLACE, entity);
}

export function escAttr(s: string, path = 'value'): string {
  if (!ATTR_SPECIAL.test(s)) return s;
  checkLegal(s, path);
  return s.replace(ATTR_REPLACE, entity);
}
