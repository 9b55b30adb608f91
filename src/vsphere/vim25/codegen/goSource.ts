/**
 * Reads govmomi's generated `vim25/types` Go sources (types.go, enum.go, if.go) as data.
 *
 * Those files are generated from the vim25 WSDL, so they carry the schema faithfully:
 * - `type X struct { Base; Field T \`xml:"name,omitempty"\` }`: a complex type, the embedded
 *   struct is its xsd:extension base, fields are in WSDL element order;
 * - `type X string` + `const ( XFoo = X("foo") )`: an enumeration;
 * - `type BaseX interface { GetX() *X }` (if.go): the polymorphic slot type for X;
 * - `type M MRequestType`: the request element of method M (its `_this` comes first);
 * - `t["xmlName"] = reflect.TypeOf((*GoName)(nil)).Elem()`: the registry mapping XML type
 *   names to Go names (they differ for a few types, e.g. `ArrayOfvslmInfrastructureObjectPolicy`).
 *
 * This module only tokenizes; `schema.ts` interprets.
 */

export interface GoField {
  /** Go field name (unused by the schema, kept for diagnostics). */
  readonly goName: string;
  /** The Go type as written: `string`, `*bool`, `[]BaseVirtualDevice`, `time.Time`… */
  readonly goType: string;
  /** The XML element name from the tag (may be empty for `,chardata`). */
  readonly xmlName: string;
  readonly omitempty: boolean;
  /** `typeattr`: govmomi writes `xsi:type` for this slot (polymorphic or anyType). */
  readonly typeattr: boolean;
  /** `,attr` or `,chardata`: only on ManagedObjectReference. */
  readonly special: boolean;
}

export interface GoStruct {
  readonly name: string;
  /** Embedded structs (the xsd:extension base); at most one in vim25. */
  readonly embeds: readonly string[];
  readonly fields: readonly GoField[];
}

export interface GoSource {
  readonly structs: ReadonlyMap<string, GoStruct>;
  /** `type X string` declarations → their const values in declaration order (possibly none). */
  readonly stringTypes: ReadonlyMap<string, readonly string[]>;
  /** `type X Y` declarations (method request elements, fault elements). */
  readonly aliases: ReadonlyMap<string, string>;
  /** `type BaseX interface` names declared (if.go). */
  readonly interfaces: ReadonlySet<string>;
  /** Registry: XML name → Go type name, in file order. */
  readonly registry: ReadonlyMap<string, string>;
}

const STRUCT_OPEN = /^type (\w+) struct \{\s*(\})?\s*$/;
const EMBED = /^\t\*?(\w+)$/;
const FIELD = /^\t(\w+)\s+(\S+)\s+`xml:"([^"]*)"`\s*$/;
const STRING_TYPE = /^type (\w+) string$/;
const ALIAS = /^type (\w+) (\w+)$/;
const INTERFACE = /^type (\w+) interface \{/;
const CONST = /^\t\w+\s*=\s*(\w+)\("((?:[^"\\]|\\.)*)"\)/;
const REGISTRY = /t\["(\w+)"\]\s*=\s*reflect\.TypeOf\(\(\*(\w+)\)\(nil\)\)/;

/** Parses the concatenation of govmomi vim25/types sources. Throws on a struct line it cannot read. */
export function parseGoSource(sources: readonly string[]): GoSource {
  const structs = new Map<string, GoStruct>();
  const stringTypes = new Map<string, string[]>();
  const aliases = new Map<string, string>();
  const interfaces = new Set<string>();
  const registry = new Map<string, string>();

  for (const src of sources) {
    const lines = src.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.replace(/\r$/, '');
      let m = STRUCT_OPEN.exec(line);
      if (m) {
        const name = m[1]!;
        const embeds: string[] = [];
        const fields: GoField[] = [];
        if (!m[2]) {
          for (i++; i < lines.length; i++) {
            const l = lines[i]!.replace(/\r$/, '');
            if (l === '}') break;
            if (l.trim() === '' || l.trim().startsWith('//')) continue;
            const em = EMBED.exec(l);
            if (em) {
              embeds.push(em[1]!);
              continue;
            }
            const fm = FIELD.exec(l);
            if (!fm) throw new Error(`cannot read field of ${name}: ${JSON.stringify(l)}`);
            const [xmlName = '', ...opts] = fm[3]!.split(',');
            fields.push({
              goName: fm[1]!,
              goType: fm[2]!,
              xmlName,
              omitempty: opts.includes('omitempty'),
              typeattr: opts.includes('typeattr'),
              special: opts.includes('attr') || opts.includes('chardata'),
            });
          }
        }
        structs.set(name, { name, embeds, fields });
        continue;
      }
      m = STRING_TYPE.exec(line);
      if (m) {
        if (!stringTypes.has(m[1]!)) stringTypes.set(m[1]!, []);
        continue;
      }
      m = INTERFACE.exec(line);
      if (m) {
        interfaces.add(m[1]!);
        continue;
      }
      m = ALIAS.exec(line);
      if (m) {
        aliases.set(m[1]!, m[2]!);
        continue;
      }
      m = CONST.exec(line);
      if (m) {
        let values = stringTypes.get(m[1]!);
        if (!values) {
          values = [];
          stringTypes.set(m[1]!, values);
        }
        values.push(JSON.parse(`"${m[2]!}"`) as string);
        continue;
      }
      m = REGISTRY.exec(line);
      if (m && !registry.has(m[1]!)) registry.set(m[1]!, m[2]!);
    }
  }
  return { structs, stringTypes, aliases, interfaces, registry };
}
