import { decodeResponse } from '../../src/vsphere/vim25/decode';
import { encodeRequest, encodeValue, escAttr, escText, VimEncodeError } from '../../src/vsphere/vim25/encode';
import { vim25 } from '../../src/vsphere/vim25/generated/table';
import { moref } from '../../src/vsphere/vim25/values';
import { table } from './vim25-table.fixture';

const VM = moref('VirtualMachine', 'vm-42');

/** The body's method element, without the envelope around it. */
function body(xml: string): string {
  const m = /<soapenv:Body>([\s\S]*)<\/soapenv:Body>/.exec(xml);
  if (m === null) throw new Error(`no body in ${xml}`);
  return m[1];
}

describe('encodeRequest', () => {
  test('writes a SOAP 1.1 envelope with _this and params in WSDL order', () => {
    const xml = encodeRequest(table, 'Login', moref('SessionManager', 'SessionManager'), {
      password: 'p',
      locale: 'en',
      userName: 'u',
    });
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>')).toBe(true);
    expect(xml).toContain('<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"');
    expect(xml).toContain('xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"');
    expect(body(xml)).toBe(
      '<Login xmlns="urn:vim25"><_this type="SessionManager">SessionManager</_this>' +
        '<userName>u</userName><password>p</password><locale>en</locale></Login>',
    );
  });

  test('omits undefined optional params and fields', () => {
    const xml = encodeRequest(table, 'Login', moref('SessionManager', 'SM'), {
      userName: 'u',
      password: 'p',
      locale: undefined,
    });
    expect(body(xml)).not.toContain('locale');
  });

  test('fields come base-first in WSDL order, never in object key order', () => {
    const xml = encodeValue(table, 'device', 'VirtualDevice', {
      _type: 'VirtualDisk',
      capacityInKB: 1024,
      unitNumber: 0,
      key: 2000,
      deviceInfo: { summary: 's', label: 'l' },
    });
    expect(xml).toBe(
      '<device xsi:type="VirtualDisk"><key>2000</key><deviceInfo><label>l</label><summary>s</summary></deviceInfo>' +
        '<unitNumber>0</unitNumber><capacityInKB>1024</capacityInKB></device>',
    );
  });

  test('no xsi:type when the actual type is the declared one', () => {
    expect(encodeValue(table, 'd', 'Description', { _type: 'Description', label: 'a', summary: 'b' })).toBe(
      '<d><label>a</label><summary>b</summary></d>',
    );
  });

  test('rejects a _type that is not a subtype of the declared type', () => {
    expect(() => encodeValue(table, 'd', 'VirtualDevice', { _type: 'OptionValue', key: 'k' })).toThrow(
      /OptionValue is not a subtype of VirtualDevice/,
    );
  });

  test('arrays are repeated elements; MoRefs carry their type attribute', () => {
    const xml = encodeRequest(table, 'ReconfigVM_Task', VM, {
      spec: {
        extraConfig: [
          { key: 'a', value: 'x' },
          { key: 'b', value: 'y' },
        ],
        folder: moref('Folder', 'group-v3'),
        hosts: [moref('HostSystem', 'host-1'), moref('HostSystem', 'host-2')],
      },
    });
    expect(body(xml)).toBe(
      '<ReconfigVM_Task xmlns="urn:vim25"><_this type="VirtualMachine">vm-42</_this><spec>' +
        '<extraConfig><key>a</key><value xsi:type="xsd:string">x</value></extraConfig>' +
        '<extraConfig><key>b</key><value xsi:type="xsd:string">y</value></extraConfig>' +
        '<folder type="Folder">group-v3</folder>' +
        '<hosts type="HostSystem">host-1</hosts><hosts type="HostSystem">host-2</hosts>' +
        '</spec></ReconfigVM_Task>',
    );
  });

  test('primitive leaves: long, enum, dateTime, base64, boolean, double', () => {
    const xml = encodeValue(table, 'spec', 'VirtualMachineConfigSpec', {
      memoryMB: 2 ** 40,
      powerState: 'poweredOn',
      created: new Date('2024-01-02T03:04:05.678Z'),
      blob: Buffer.from('hi\u0000'),
      enabled: false,
      ratio: 0.5,
    });
    expect(xml).toBe(
      '<spec><memoryMB>1099511627776</memoryMB><powerState>poweredOn</powerState>' +
        '<created>2024-01-02T03:04:05.678Z</created><blob>aGkA</blob><enabled>false</enabled><ratio>0.5</ratio></spec>',
    );
  });

  test('anyType slots get xsi:type for every kind of value', () => {
    const any = (v: unknown): string => encodeValue(table, 'v', 'xsd:anyType', v);
    expect(any('s')).toBe('<v xsi:type="xsd:string">s</v>');
    expect(any(7)).toBe('<v xsi:type="xsd:int">7</v>');
    expect(any(2 ** 33)).toBe('<v xsi:type="xsd:long">8589934592</v>');
    expect(any(1.5)).toBe('<v xsi:type="xsd:double">1.5</v>');
    expect(any(true)).toBe('<v xsi:type="xsd:boolean">true</v>');
    expect(any(new Date(0))).toBe('<v xsi:type="xsd:dateTime">1970-01-01T00:00:00.000Z</v>');
    expect(any(moref('VirtualMachine', 'vm-1'))).toBe(
      '<v xsi:type="ManagedObjectReference" type="VirtualMachine">vm-1</v>',
    );
    expect(any(['a', 'b'])).toBe('<v xsi:type="ArrayOfString"><string>a</string><string>b</string></v>');
    expect(any([1, 2 ** 40])).toBe('<v xsi:type="ArrayOfLong"><long>1</long><long>1099511627776</long></v>');
    expect(any([moref('HostSystem', 'h1')])).toBe(
      '<v xsi:type="ArrayOfManagedObjectReference"><ManagedObjectReference type="HostSystem">h1</ManagedObjectReference></v>',
    );
    expect(any({ _type: 'OptionValue', key: 'k', value: 1 })).toBe(
      '<v xsi:type="OptionValue"><key>k</key><value xsi:type="xsd:int">1</value></v>',
    );
    expect(any([{ _type: 'OptionValue', key: 'k' }])).toBe(
      '<v xsi:type="ArrayOfOptionValue"><OptionValue><key>k</key></OptionValue></v>',
    );
    expect(any(['a', 1])).toBe(
      '<v xsi:type="ArrayOfAnyType"><anyType xsi:type="xsd:string">a</anyType><anyType xsi:type="xsd:int">1</anyType></v>',
    );
    expect(() => any({ key: 'no type' })).toThrow(/needs _type|objects need _type/);
  });

  test('the generated table knows ArrayOfX wrappers and the common param shapes', () => {
    const xml = encodeRequest(vim25, 'TerminateSession', moref('SessionManager', 'SessionManager'), {
      sessionId: ['a', 'b'],
    });
    expect(body(xml)).toContain('<sessionId>a</sessionId><sessionId>b</sessionId>');
    expect(encodeValue(vim25, 'v', 'xsd:anyType', ['x'])).toBe('<v xsi:type="ArrayOfString"><string>x</string></v>');
  });

  test('missing required fields name type.field', () => {
    expect(() => encodeValue(table, 'o', 'OptionValue', { value: 'x' })).toThrow('OptionValue.key is required');
    expect(() => encodeRequest(table, 'Login', VM, { userName: 'u' })).toThrow('Login.password is required');
    expect(() => encodeValue(table, 'd', 'VirtualDevice', { _type: 'VirtualDisk', key: 1 })).toThrow(
      'VirtualDisk.capacityInKB is required',
    );
  });

  test('wrong JS types and unknown params are clear errors', () => {
    expect(() => encodeValue(table, 's', 'VirtualMachineConfigSpec', { memoryMB: '12' })).toThrow(VimEncodeError);
    expect(() => encodeValue(table, 's', 'VirtualMachineConfigSpec', { memoryMB: 1.5 })).toThrow(/integer/);
    expect(() => encodeValue(table, 's', 'VirtualMachineConfigSpec', { extraConfig: { key: 'a' } })).toThrow(
      /expected an array/,
    );
    expect(() => encodeRequest(table, 'Login', VM, { userName: 'u', password: 'p', pasword: 'x' })).toThrow(
      /unknown parameter 'pasword'/,
    );
    expect(() => encodeRequest(table, 'NoSuchMethod', VM, {})).toThrow(/unknown vim25 method/);
  });

  test('escapes text and attributes strictly', () => {
    expect(escText(`a<b>&"c'`)).toBe('a&lt;b&gt;&amp;&quot;c&apos;');
    expect(escText('line1\nline2\ttab')).toBe('line1\nline2\ttab');
    expect(escText('cr\r\n')).toBe('cr&#xD;\n');
    expect(escAttr('a\nb\tc"d')).toBe('a&#xA;b&#x9;c&quot;d');
    expect(escText('ünïcødé ☃ 😀')).toBe('ünïcødé ☃ 😀');
    const xml = encodeRequest(table, 'ReconfigVM_Task', moref('Virtual"Machine', 'vm<1>'), {
      spec: { name: '</name><evil/>' },
    });
    expect(body(xml)).toContain('<_this type="Virtual&quot;Machine">vm&lt;1&gt;</_this>');
    expect(body(xml)).toContain('<name>&lt;/name&gt;&lt;evil/&gt;</name>');
  });

  test('rejects characters XML 1.0 cannot carry, naming the field', () => {
    expect(() => encodeValue(table, 's', 'VirtualMachineConfigSpec', { annotation: 'bell\u0007' })).toThrow(
      /VirtualMachineConfigSpec.annotation: character U\+0007/,
    );
    expect(() => escText('lone \uD800 surrogate')).toThrow(/U\+D800/);
    expect(() => escText('\uFFFE')).toThrow(/U\+FFFE/);
  });

  test('newlines, CR, quotes and non-ASCII survive a round trip through the decoder', () => {
    const tricky = 'a\r\nb\nc\r"q" \'s\' <&> ünï 😀 \t end';
    const req = encodeValue(table, 'returnval', 'OptionValue', { key: tricky, value: tricky });
    const res = `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><XResponse xmlns="urn:vim25">${req.replace('<returnval>', '<returnval xsi:type="OptionValue">')}</XResponse></soapenv:Body></soapenv:Envelope>`;
    const decoded = decodeResponse(table, 'SetValue', res);
    expect(decoded.kind).toBe('result');
    if (decoded.kind === 'result') expect(decoded.value).toEqual({ _type: 'OptionValue', key: tricky, value: tricky });
  });
});
