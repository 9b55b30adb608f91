/**
 * How vim25 values look in TypeScript, on both sides of the wire.
 *
 * - A managed object reference is `{ type, value }`.
 * - A complex value is a plain object with the WSDL's field names. Decoded objects
 *   always carry `_type` (their actual type). When encoding, `_type` is only needed
 *   where the actual type differs from the declared one (polymorphic slots), and then
 *   it becomes `xsi:type`.
 * - xsd:int/long/short/byte/float/double → number (longs beyond 2^53 lose precision;
 *   vSphere's byte counts and keys stay well below that); xsd:dateTime → Date;
 *   xsd:base64Binary → Buffer; enums → their string.
 * - An `xsd:anyType` slot (OptionValue.value, DynamicProperty.val…) holds a VimAny:
 *   strings, numbers (encoded as xsd:int when they fit, else xsd:long, or xsd:double
 *   when fractional), booleans, Dates, references, complex values, or arrays (decoded
 *   from and encoded as `ArrayOfX`).
 */
export interface ManagedObjectReference {
  readonly type: string;
  readonly value: string;
}

export interface VimObject {
  readonly _type?: string;
}

export type VimAny = string | number | boolean | Date | Buffer | ManagedObjectReference | VimObject | readonly VimAny[];

export function isManagedObjectReference(v: unknown): v is ManagedObjectReference {
  return (
    typeof v === 'object' &&
    v !== null &&
    !('_type' in v) &&
    typeof (v as ManagedObjectReference).type === 'string' &&
    typeof (v as ManagedObjectReference).value === 'string'
  );
}

export function moref(type: string, value: string): ManagedObjectReference {
  return { type, value };
}
