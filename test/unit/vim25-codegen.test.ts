import { emitMethods, emitTable, emitTypes } from '../../src/vsphere/vim25/codegen/emit';
import { parseGoSource } from '../../src/vsphere/vim25/codegen/goSource';
import { baseChain, buildSchema } from '../../src/vsphere/vim25/codegen/schema';
import { selectSchema } from '../../src/vsphere/vim25/codegen/select';
import { vim25 } from '../../src/vsphere/vim25/generated/table';
import type { VimComplexType, VimField } from '../../src/vsphere/vim25/typeTable';

const GO = `package types

type DynamicData struct {
}

func init() {
	t["DynamicData"] = reflect.TypeOf((*DynamicData)(nil)).Elem()
}

type Shape struct {
	DynamicData

	Name   string    \`xml:"name"\`
	Tags   []string  \`xml:"tags,omitempty"\`
	Hidden *bool     \`xml:"hidden"\`
	Made   time.Time \`xml:"made"\`
	Owner  *ManagedObjectReference \`xml:"owner,omitempty"\`
	Color  ShapeColor \`xml:"color,omitempty"\`
	Bits   []byte \`xml:"bits,omitempty"\`
	Blob   []byte \`xml:"blob,omitempty"\`
}

func init() {
	t["Shape"] = reflect.TypeOf((*Shape)(nil)).Elem()
}

type Circle struct {
	Shape

	Radius float64 \`xml:"radius"\`
}

func init() {
	t["Circle"] = reflect.TypeOf((*Circle)(nil)).Elem()
}

type Drawing struct {
	DynamicData

	Shapes []BaseShape \`xml:"shapes,omitempty,typeattr"\`
	Main   BaseShape   \`xml:"main,typeattr"\`
	Extra  AnyType     \`xml:"extra,omitempty,typeattr"\`
	Size   int64       \`xml:"size"\`
	Angle  *int16      \`xml:"angle"\`
}

func init() {
	t["Drawing"] = reflect.TypeOf((*Drawing)(nil)).Elem()
}

type ArrayOfShape struct {
	Shape []BaseShape \`xml:"Shape,omitempty,typeattr"\`
}

func init() {
	t["ArrayOfShape"] = reflect.TypeOf((*ArrayOfShape)(nil)).Elem()
}

type ManagedObjectReference struct {
	Type  string \`xml:"type,attr"\`
	Value string \`xml:",chardata"\`
}

type Draw DrawRequestType

func init() {
	t["draw"] = reflect.TypeOf((*Draw)(nil)).Elem()
}

type DrawRequestType struct {
	This    ManagedObjectReference \`xml:"_this"\`
	Drawing Drawing                \`xml:"drawing"\`
	Count   []int32                \`xml:"count,omitempty"\`
}

type DrawResponse struct {
	Returnval *Drawing \`xml:"returnval,omitempty"\`
}

type Erase EraseRequestType

func init() {
	t["Erase"] = reflect.TypeOf((*Erase)(nil)).Elem()
}

type EraseRequestType struct {
	This ManagedObjectReference \`xml:"_this"\`
}

type EraseResponse struct {
}

type Lonely struct {
	DynamicData

	Note VersionURI \`xml:"note"\`
}

func init() {
	t["Lonely"] = reflect.TypeOf((*Lonely)(nil)).Elem()
}

type VersionURI string
`;

const ENUM = `package types

type ShapeColor string

const (
	ShapeColorRed  = ShapeColor("red")
	ShapeColorBlue = ShapeColor("blue")
)

func init() {
	t["ShapeColor"] = reflect.TypeOf((*ShapeColor)(nil)).Elem()
}
`;

const IF = `package types

func (b *Shape) GetShape() *Shape { return b }

type BaseShape interface {
	GetShape() *Shape
}

func init() {
	t["BaseShape"] = reflect.TypeOf((*Shape)(nil)).Elem()
}
`;

const field = (name: string, type: string, optional: boolean, array: boolean): VimField => ({
  name,
  type,
  array,
  optional,
});

function complexType(types: ReadonlyMap<string, unknown> | Readonly<Record<string, unknown>>, name: string) {
  const t = types instanceof Map ? types.get(name) : (types as Record<string, unknown>)[name];
  expect(t).toBeDefined();
  expect((t as VimComplexType).kind).toBe('complex');
  return t as VimComplexType;
}

describe('vim25 codegen on a Go snippet', () => {
  const schema = buildSchema(parseGoSource([GO, ENUM, IF]), { base64Fields: new Set(['Shape.blob']) });

  it('reads embedding as the base and fields in order with optionality and arrays', () => {
    const shape = complexType(schema.types, 'Shape');
    expect(shape.base).toBe('DynamicData');
    expect(shape.fields).toEqual([
      field('name', 'xsd:string', false, false),
      field('tags', 'xsd:string', true, true),
      field('hidden', 'xsd:boolean', true, false),
      field('made', 'xsd:dateTime', false, false),
      field('owner', 'ManagedObjectReference', true, false),
      field('color', 'ShapeColor', true, false),
      field('bits', 'xsd:byte', true, true),
      field('blob', 'xsd:base64Binary', true, false),
    ]);
    expect(complexType(schema.types, 'Circle').base).toBe('Shape');
    expect(baseChain(schema.types, 'Circle')).toEqual(['Shape', 'DynamicData']);
    expect(schema.subtypes.get('Shape')).toEqual(['Circle']);
  });

  it('reads BaseX as a polymorphic slot of X and AnyType as xsd:anyType', () => {
    const drawing = complexType(schema.types, 'Drawing');
    expect(drawing.fields).toEqual([
      field('shapes', 'Shape', true, true),
      field('main', 'Shape', false, false),
      field('extra', 'xsd:anyType', true, false),
      field('size', 'xsd:long', false, false),
      field('angle', 'xsd:short', true, false),
    ]);
    expect(schema.polymorphic.has('Drawing.main')).toBe(true);
    expect(complexType(schema.types, 'ArrayOfShape').fields).toEqual([field('Shape', 'Shape', true, true)]);
  });

  it('reads enums, string aliases, and leaves out ManagedObjectReference and request types', () => {
    expect(schema.types.get('ShapeColor')).toEqual({ kind: 'enum', name: 'ShapeColor', values: ['red', 'blue'] });
    expect(complexType(schema.types, 'Lonely').fields).toEqual([field('note', 'xsd:string', false, false)]);
    for (const name of ['ManagedObjectReference', 'DrawRequestType', 'DrawResponse', 'VersionURI']) {
      expect(schema.types.has(name)).toBe(false);
    }
  });

  it('reads methods by their XML element name, without _this, with their return value', () => {
    expect(schema.methods.get('draw')).toEqual({
      name: 'draw',
      params: [field('drawing', 'Drawing', false, false), field('count', 'xsd:int', true, true)],
      returns: field('returnval', 'Drawing', true, false),
    });
    expect(schema.methods.get('Erase')).toEqual({ name: 'Erase', params: [] });
  });

  it('selects the closure of roots, with subtypes, and emits TypeScript', () => {
    const sel = selectSchema(schema, {
      methods: ['Erase'],
      types: ['Drawing'],
      noSubtypes: ['DynamicData'],
      closedHierarchies: [],
    });
    expect([...sel.types.keys()]).toEqual(['ArrayOfShape', 'Circle', 'Drawing', 'DynamicData', 'Shape', 'ShapeColor']);
    const noSub = selectSchema(schema, {
      methods: [],
      types: ['Drawing'],
      noSubtypes: [],
      closedHierarchies: ['Shape'],
    });
    expect(noSub.types.has('Circle')).toBe(false);

    const opts = { source: 'test' };
    const types = emitTypes(sel, opts);
    expect(types).toContain('export interface DynamicData {\n  _type?: string;\n}');
    expect(types).toContain('export interface Circle extends Shape {\n  radius: number;\n}');
    expect(types).toContain('  shapes?: Shape[];\n  main: Shape;\n  extra?: VimAny;');
    expect(types).toContain("export type ShapeColor = 'red' | 'blue';");
    expect(types).toContain('  owner?: ManagedObjectReference;');

    const full = selectSchema(schema, { methods: ['draw', 'Erase'], types: [], noSubtypes: [], closedHierarchies: [] });
    const methods = emitMethods(full, opts);
    expect(methods).toContain(
      '  draw: { params: { drawing: T.Drawing; count?: number[] }; returns: T.Drawing | undefined };',
    );
    expect(methods).toContain('  Erase: { params: Record<string, never>; returns: void };');

    const table = emitTable(sel, opts);
    expect(table).toContain("    Circle: c('Circle', 'Shape', [r('radius', 'xsd:double')]),");
    expect(table).toContain("    Erase: m('Erase', []),");
  });
});

describe('the generated vim25 table', () => {
  it('keeps WSDL field order: VirtualMachineConfigSpec', () => {
    const spec = complexType(vim25.types, 'VirtualMachineConfigSpec');
    expect(spec.base).toBe('DynamicData');
    expect(spec.fields.slice(0, 5).map((f) => f.name)).toEqual([
      'changeVersion',
      'name',
      'version',
      'createDate',
      'uuid',
    ]);
    expect(spec.fields.every((f) => f.optional)).toBe(true);
    expect(spec.fields.find((f) => f.name === 'deviceChange')).toEqual(
      field('deviceChange', 'VirtualDeviceConfigSpec', true, true),
    );
    expect(spec.fields.find((f) => f.name === 'extraConfig')).toEqual(field('extraConfig', 'OptionValue', true, true));
  });

  it('has base chains and all device subtypes', () => {
    const chain: string[] = [];
    for (let t = vim25.types.VirtualDisk; t?.kind === 'complex' && t.base; t = vim25.types[t.base]) chain.push(t.base);
    expect(chain).toEqual(['VirtualDevice', 'DynamicData']);
    expect(complexType(vim25.types, 'VirtualDisk').fields[0]).toEqual(field('capacityInKB', 'xsd:long', false, false));
    for (const name of ['VirtualVmxnet3', 'VirtualSerialPortURIBackingInfo', 'VirtualDiskFlatVer2BackingInfo']) {
      expect(vim25.types[name]?.kind).toBe('complex');
    }
    expect(complexType(vim25.types, 'VirtualDeviceConfigSpec').fields.find((f) => f.name === 'device')?.type).toBe(
      'VirtualDevice',
    );
  });

  it('has the methods VCH calls', () => {
    expect(vim25.methods.InstantClone_Task).toEqual({
      name: 'InstantClone_Task',
      params: [field('spec', 'VirtualMachineInstantCloneSpec', false, false)],
      returns: field('returnval', 'ManagedObjectReference', false, false),
    });
    expect(vim25.methods.RetrievePropertiesEx?.params).toEqual([
      field('specSet', 'PropertyFilterSpec', false, true),
      field('options', 'RetrieveOptions', false, false),
    ]);
    expect(vim25.methods.RetrievePropertiesEx?.returns).toEqual(field('returnval', 'RetrieveResult', true, false));
    expect(vim25.methods.Logout).toEqual({ name: 'Logout', params: [] });
    expect(vim25.methods.setCustomValue?.params.map((p) => p.name)).toEqual(['key', 'value']);
  });

  it('has faults, enums and array wrappers', () => {
    expect(complexType(vim25.types, 'MethodFault').base).toBeUndefined();
    expect(complexType(vim25.types, 'InvalidLogin').base).toBe('VimFault');
    expect(complexType(vim25.types, 'LocalizedMethodFault').fields[0]).toEqual(
      field('fault', 'MethodFault', false, false),
    );
    expect(vim25.types.TaskInfoState).toEqual({
      kind: 'enum',
      name: 'TaskInfoState',
      values: ['queued', 'running', 'success', 'error'],
    });
    expect(complexType(vim25.types, 'ArrayOfVirtualDevice').fields).toEqual([
      field('VirtualDevice', 'VirtualDevice', true, true),
    ]);
    expect(complexType(vim25.types, 'ArrayOfString').fields).toEqual([field('string', 'xsd:string', true, true)]);
  });

  it('refers only to types it has', () => {
    const known = (type: string) => type.startsWith('xsd:') || type === 'ManagedObjectReference' || type in vim25.types;
    for (const t of Object.values(vim25.types)) {
      if (t.kind !== 'complex') continue;
      if (t.base !== undefined) expect(vim25.types[t.base]).toBeDefined();
      for (const f of t.fields) expect([t.name, f.name, known(f.type)]).toEqual([t.name, f.name, true]);
    }
    for (const mt of Object.values(vim25.methods)) {
      for (const f of [...mt.params, ...(mt.returns ? [mt.returns] : [])])
        expect([mt.name, known(f.type)]).toEqual([mt.name, true]);
    }
  });
});
