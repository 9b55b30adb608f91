/**
 * The streaming vim25 response decoder: tokenizer events drive a type-table walk that
 * builds the JS values directly (values.ts conventions). Chunks are fed as they arrive,
 * so parsing overlaps the download. The tokenizer is xmlScanner.ts by default; `saxes`
 * (the project's original choice, FACTS.md) stays selectable and is the reference the
 * unit tests compare the scanner with.
 *
 * Speed matters here (a 10 MB RetrievePropertiesEx must decode within a small multiple
 * of its transfer time), so the walk keeps its state in parallel arrays indexed by depth
 * instead of a frame object per element, looks fields up in the compiled per-type maps,
 * and allocates nothing per element beyond the decoded value itself.
 *
 * Tolerance: vCenter adds fields and types in newer releases, so an element or xsi:type
 * the table does not know is decoded generically (nested objects keyed by element name,
 * repeated elements → arrays, text → strings), never an error.
 */
import { SaxesParser } from 'saxes';
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
  KIND_UNKNOWN,
  LEAF_BASE64,
  LEAF_BOOLEAN,
  LEAF_DATETIME,
  LEAF_FLOAT,
  LEAF_INTEGER,
  normalizeXsiType,
} from './compile';
import type { TypeTable } from './typeTable';
import type { VimObject } from './values';
import { type XmlHandler, XmlScanner } from './xmlScanner';

/** A SOAP fault as the server sent it. */
export interface SoapFault {
  readonly faultCode: string;
  readonly faultString: string;
  /** The decoded detail (`<XxxFault xsi:type="Xxx">`), with `_type` = Xxx; absent if none. */
  readonly detail: VimObject | undefined;
  /** The detail element's XML as received (re-serialized), for faults nobody knows. */
  readonly detailXml: string;
}

export type DecodedResponse =
  | { readonly kind: 'result'; readonly value: unknown }
  | { readonly kind: 'fault'; readonly fault: SoapFault };

export class VimDecodeError extends Error {
  override readonly name = 'VimDecodeError';
}

// Frame kinds (what the element at a depth is).
const F_SKIP = 0; // ignored subtree (soapenv:Header, junk)
const F_ENVELOPE = 1;
const F_BODY = 2;
const F_RESPONSE = 3; // <XxxResponse>: children are <returnval>
const F_FAULT = 4;
const F_FAULT_TEXT = 5; // faultcode, faultstring
const F_DETAIL = 6;
const F_LEAF = 7;
const F_MOREF = 8;
const F_COMPLEX = 9;
const F_ARRAY = 10; // ArrayOfX
const F_GENERIC = 11; // unknown element, unknown type, or anyType without xsi:type
const F_DOCUMENT = 12; // depth 0

type Obj = Record<string, unknown>;

function localName(name: string): string {
  const colon = name.indexOf(':');
  return colon < 0 ? name : name.slice(colon + 1);
}

/**
 * The xsi:type attribute of a tag, whatever the prefix (govmomi writes
 * `XMLSchema-instance:type`, vCenter `xsi:type`): any prefixed attribute named `type`.
 * The unprefixed `type` attribute is a ManagedObjectReference's own.
 */
function xsiTypeOf(attrs: Record<string, string>): string | undefined {
  const v = attrs['xsi:type'];
  if (v !== undefined) return v;
  for (const k in attrs) {
    if (k.length > 5 && k.endsWith(':type')) return attrs[k];
  }
  return undefined;
}

function convertLeaf(leaf: number, text: string): unknown {
  switch (leaf) {
    case LEAF_INTEGER:
      return +text;
    case LEAF_BOOLEAN:
      return text === 'true' || text === '1';
    case LEAF_FLOAT:
      if (text === 'INF') return Number.POSITIVE_INFINITY;
      if (text === '-INF') return Number.NEGATIVE_INFINITY;
      return +text;
    case LEAF_DATETIME:
      return new Date(text);
    case LEAF_BASE64:
      return Buffer.from(text, 'base64');
    default:
      return text;
  }
}

/** Attach a generically decoded child: key by element name, repeated elements → array. */
function attachGeneric(obj: Obj, key: string, v: unknown): void {
  if (!Object.hasOwn(obj, key)) {
    obj[key] = v;
    return;
  }
  const prev = obj[key];
  if (Array.isArray(prev) && genericArrays.has(prev)) prev.push(v);
  else {
    const arr = [prev, v];
    genericArrays.add(arr);
    obj[key] = arr;
  }
}
// Arrays the generic decoder made from repeated elements (so a decoded array value is not mistaken for one).
const genericArrays = new WeakSet<unknown[]>();

function escXml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&quot;'));
}

export interface DecoderOptions {
  /**
   * The tokenizer: 'fast' (default, xmlScanner.ts, 2–3× faster on big responses) or
   * 'saxes' (the reference, checks the full XML grammar).
   */
  readonly parser?: 'fast' | 'saxes';
}

interface Tokenizer {
  write(chunk: string): void;
  close(): void;
}

function saxesTokenizer(h: XmlHandler): Tokenizer {
  const p = new SaxesParser({ xmlns: false, position: false });
  p.on('opentag', (tag) => h.onOpen(tag.name, tag.attributes));
  p.on('text', (t) => h.onText(t));
  p.on('cdata', (t) => h.onText(t));
  p.on('closetag', () => h.onClose());
  return {
    write: (chunk) => {
      p.write(chunk);
    },
    close: () => {
      p.close();
    },
  };
}

export class ResponseDecoder implements XmlHandler {
  private readonly c: Compiled;
  private readonly returns: CField | undefined;
  private readonly parser: Tokenizer;

  // Per-depth state. Depth 0 is the document; the envelope is depth 1.
  private depth = 0;
  private readonly kinds: number[] = [F_DOCUMENT];
  private readonly types: (CType | undefined)[] = [undefined];
  /** The field of the parent's type this element fills (undefined: unknown to the parent). */
  private readonly fields: (CField | undefined)[] = [undefined];
  private readonly names: string[] = [''];
  private readonly values: unknown[] = [undefined];
  private readonly texts: string[] = [''];

  private result: unknown;
  private sawResponse = false;
  private fault: { code: string; string: string; detail: VimObject | undefined } | undefined;
  private detailDepth = 0;
  private detailXml = '';
  private done = false;

  constructor(table: TypeTable, method: string, opts: DecoderOptions = {}) {
    this.c = compile(table);
    const m = this.c.method(method);
    this.returns = m?.returns;
    this.result = this.returns?.array ? [] : undefined;
    this.parser = opts.parser === 'saxes' ? saxesTokenizer(this) : new XmlScanner(this);
  }

  write(chunk: string): void {
    try {
      this.parser.write(chunk);
    } catch (e) {
      throw new VimDecodeError(`malformed SOAP response: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  end(): DecodedResponse {
    if (!this.done) {
      this.done = true;
      try {
        this.parser.close();
      } catch (e) {
        throw new VimDecodeError(`malformed SOAP response: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    if (this.fault !== undefined) {
      return {
        kind: 'fault',
        fault: {
          faultCode: this.fault.code,
          faultString: this.fault.string,
          detail: this.fault.detail,
          detailXml: this.detailXml,
        },
      };
    }
    if (!this.sawResponse) throw new VimDecodeError('SOAP response has neither a result nor a fault');
    return { kind: 'result', value: this.result };
  }

  /** @internal tokenizer callback */
  onOpen(name: string, attrs: Record<string, string>): void {
    const parentKind = this.kinds[this.depth];
    const d = ++this.depth;
    this.names[d] = name;
    this.texts[d] = '';
    this.values[d] = undefined;
    this.fields[d] = undefined;
    this.types[d] = undefined;
    if (this.detailDepth !== 0) this.recordOpen(name, attrs);

    let declared: CType | undefined;
    switch (parentKind) {
      case F_COMPLEX: {
        const parentType = this.types[d - 1];
        const f = parentType === undefined ? undefined : parentType.byName.get(name);
        if (f !== undefined) {
          this.fields[d] = f;
          declared = f.type ?? this.c.fieldType(f);
        }
        break;
      }
      case F_ARRAY:
        declared = this.types[d - 1]?.item;
        break;
      case F_GENERIC:
        break;
      case F_SKIP:
      case F_LEAF:
      case F_MOREF:
      case F_FAULT_TEXT:
        this.kinds[d] = F_SKIP;
        return;
      case F_RESPONSE: {
        const r = this.returns;
        if (r === undefined) break; // a method the table lacks: decode returnval generically
        this.fields[d] = r;
        declared = r.type ?? this.c.fieldType(r);
        break;
      }
      case F_DETAIL:
        // <InvalidLoginFault xsi:type="InvalidLogin">: the type is xsi:type, else the name less "Fault".
        if (xsiTypeOf(attrs) === undefined) {
          const local = localName(name);
          const t = this.c.type(local.endsWith('Fault') ? local.slice(0, -5) : local);
          if (t.kind === KIND_COMPLEX) declared = t;
        }
        break;
      default:
        this.openStructural(parentKind, d, name);
        return;
    }
    const xsi = xsiTypeOf(attrs);
    let t = declared;
    if (xsi !== undefined) {
      const actual = this.c.type(normalizeXsiType(xsi));
      if (actual.kind === KIND_UNKNOWN && declared !== undefined && declared.kind === KIND_COMPLEX) {
        // A subtype newer than our table: decode the fields we know as the declared
        // type, the rest generically, and keep the actual type's name.
        this.kinds[d] = F_COMPLEX;
        this.types[d] = declared;
        this.values[d] = { _type: actual.name };
        return;
      }
      // An xsi:type that says less than the schema (anyType) never overrides a known declaration.
      t = actual.kind === KIND_ANY && declared !== undefined ? declared : actual;
    }
    if (t === undefined) {
      this.kinds[d] = F_GENERIC;
      return;
    }
    switch (t.kind) {
      case KIND_LEAF:
        this.kinds[d] = F_LEAF;
        this.types[d] = t;
        return;
      case KIND_MOREF:
        this.kinds[d] = F_MOREF;
        this.values[d] = attrs.type ?? '';
        return;
      case KIND_COMPLEX:
        this.kinds[d] = F_COMPLEX;
        this.types[d] = t;
        this.values[d] = { _type: t.name };
        return;
      case KIND_ARRAY:
        this.kinds[d] = F_ARRAY;
        this.types[d] = t;
        this.values[d] = [];
        return;
      case KIND_ANY:
        this.kinds[d] = F_GENERIC;
        return;
      default:
        // A type name the table lacks: generic, remembering what it is called.
        this.kinds[d] = F_GENERIC;
        this.types[d] = t;
        return;
    }
  }

  private openStructural(parentKind: number, d: number, name: string): void {
    const local = localName(name);
    let kind = F_SKIP;
    if (parentKind === F_DOCUMENT) {
      if (local === 'Envelope') kind = F_ENVELOPE;
    } else if (parentKind === F_ENVELOPE) {
      if (local === 'Body') kind = F_BODY;
    } else if (parentKind === F_BODY) {
      if (local === 'Fault') {
        kind = F_FAULT;
        this.fault = { code: '', string: '', detail: undefined };
      } else {
        kind = F_RESPONSE;
        this.sawResponse = true;
      }
    } else if (parentKind === F_FAULT) {
      if (local === 'faultcode' || local === 'faultstring') kind = F_FAULT_TEXT;
      else if (local === 'detail') {
        kind = F_DETAIL;
        this.detailDepth = d;
      }
    }
    this.kinds[d] = kind;
  }

  /** @internal tokenizer callback */
  onText(text: string): void {
    const d = this.depth;
    if (this.detailDepth !== 0 && d > this.detailDepth) this.detailXml += escXml(text);
    const k = this.kinds[d];
    // Whitespace between the children of structures is dropped here, cheaply.
    if (k === F_LEAF || k === F_MOREF || k === F_GENERIC || k === F_FAULT_TEXT) this.texts[d] += text;
  }

  /** @internal tokenizer callback */
  onClose(): void {
    const d = this.depth;
    const kind = this.kinds[d];
    if (this.detailDepth !== 0 && d > this.detailDepth) this.detailXml += `</${this.names[d]}>`;
    this.depth = d - 1;
    let v: unknown;
    switch (kind) {
      case F_LEAF: {
        const t = this.types[d];
        v = t === undefined ? this.texts[d] : convertLeaf(t.leaf, this.texts[d]);
        break;
      }
      case F_MOREF:
        v = { type: this.values[d], value: this.texts[d] };
        break;
      case F_COMPLEX:
      case F_ARRAY:
        v = this.values[d];
        break;
      case F_GENERIC: {
        // Children made it an object; otherwise it is its text, or (an empty element of
        // a type we do not know) an empty object of that type.
        v = this.values[d];
        if (v === undefined) {
          const t = this.types[d];
          const text = this.texts[d];
          v = t !== undefined && text.trim() === '' ? { _type: t.name } : text;
        }
        break;
      }
      case F_FAULT_TEXT: {
        const f = this.fault;
        if (f !== undefined) {
          if (localName(this.names[d]) === 'faultcode') f.code = this.texts[d];
          else f.string = this.texts[d];
        }
        return;
      }
      case F_DETAIL:
        this.detailDepth = 0;
        return;
      default:
        return;
    }
    this.values[d] = undefined; // let the value go with its parent
    this.attach(d - 1, d, v);
  }

  private attach(pd: number, d: number, v: unknown): void {
    switch (this.kinds[pd]) {
      case F_COMPLEX: {
        const obj = this.values[pd] as Obj;
        const f = this.fields[d];
        if (f === undefined) attachGeneric(obj, localName(this.names[d]), v);
        else if (f.array) {
          const arr = obj[f.name];
          if (arr === undefined) obj[f.name] = [v];
          else (arr as unknown[]).push(v);
        } else obj[f.name] = v;
        return;
      }
      case F_ARRAY:
        (this.values[pd] as unknown[]).push(v);
        return;
      case F_GENERIC: {
        let obj = this.values[pd] as Obj | undefined;
        if (obj === undefined) {
          const t = this.types[pd];
          obj = t === undefined ? {} : { _type: t.name };
          this.values[pd] = obj;
        }
        attachGeneric(obj, localName(this.names[d]), v);
        return;
      }
      case F_RESPONSE:
        if (this.returns?.array) (this.result as unknown[]).push(v);
        else this.result = v;
        return;
      case F_DETAIL:
        if (this.fault !== undefined && typeof v === 'object' && v !== null) this.fault.detail = v as VimObject;
        return;
      default:
        return;
    }
  }

  private recordOpen(name: string, attrs: Record<string, string>): void {
    let s = `<${name}`;
    for (const k in attrs) s += ` ${k}="${escXml(attrs[k])}"`;
    this.detailXml += `${s}>`;
  }
}

/** Decode a whole response held in memory (tests, small bodies). */
export function decodeResponse(
  table: TypeTable,
  method: string,
  xml: string,
  opts: DecoderOptions = {},
): DecodedResponse {
  const d = new ResponseDecoder(table, method, opts);
  d.write(xml);
  return d.end();
}
