/**
 * The shape of the vim25 type table that drives both the envelope writer and the
 * streaming decoder. The table itself is generated (generated/table.ts) from the
 * vim25 schema as govmomi's Debian package carries it; see codegen/generate.ts and generated/README.md.
 *
 * Field and type names are the XML names of the WSDL (lowerCamel fields,
 * UpperCamel types). Fields are listed in the WSDL's element order, own fields only:
 * the full order of a type is its base's fields, then its own.
 */

/** XML Schema primitive types as they appear in `xsi:type` and in field declarations. */
export type VimPrimitive =
  | 'xsd:string'
  | 'xsd:boolean'
  | 'xsd:byte'
  | 'xsd:short'
  | 'xsd:int'
  | 'xsd:long'
  | 'xsd:float'
  | 'xsd:double'
  | 'xsd:dateTime'
  | 'xsd:base64Binary'
  | 'xsd:anyType';

export interface VimField {
  /** XML element name. */
  readonly name: string;
  /** A VimPrimitive, 'ManagedObjectReference', or the name of a complex or enum type. */
  readonly type: string;
  /** maxOccurs="unbounded": the value is a JS array (possibly empty). */
  readonly array: boolean;
  /** minOccurs="0". */
  readonly optional: boolean;
}

export interface VimComplexType {
  readonly kind: 'complex';
  readonly name: string;
  /** The base type (xsd:extension base), absent for roots such as DynamicData. */
  readonly base?: string;
  /** Own fields in WSDL order. */
  readonly fields: readonly VimField[];
}

export interface VimEnumType {
  readonly kind: 'enum';
  readonly name: string;
  readonly values: readonly string[];
}

export type VimType = VimComplexType | VimEnumType;

export interface VimMethod {
  readonly name: string;
  /** Parameters after `_this`, in WSDL order. */
  readonly params: readonly VimField[];
  /** The `returnval` element, absent for methods that return nothing. */
  readonly returns?: VimField;
}

export interface TypeTable {
  readonly types: Readonly<Record<string, VimType>>;
  readonly methods: Readonly<Record<string, VimMethod>>;
}
