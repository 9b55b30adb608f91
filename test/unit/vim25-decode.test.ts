import { SaxesParser } from 'saxes';
import {
  FileNotFoundError,
  faultFromLocalized,
  faultFromSoap,
  InvalidLoginError,
  isFault,
  TaskInProgressError,
} from '../../src/vsphere/faults';
import {
  type DecodedResponse,
  type DecoderOptions,
  decodeResponse as decodeWith,
  ResponseDecoder,
} from '../../src/vsphere/vim25/decode';
import { vim25 } from '../../src/vsphere/vim25/generated/table';
import type { TypeTable } from '../../src/vsphere/vim25/typeTable';
import { type XmlHandler, XmlScanner } from '../../src/vsphere/vim25/xmlScanner';
import { table } from './vim25-table.fixture';

// Every decoder test runs with both tokenizers: the fast scanner and saxes, the reference.
let parser: DecoderOptions['parser'] = 'fast';
const decodeResponse = (t: TypeTable, method: string, xml: string): DecodedResponse =>
  decodeWith(t, method, xml, { parser });

const ENV_OPEN =
  '<?xml version="1.0" encoding="UTF-8"?>\n<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" ' +
  'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>';
const ENV_CLOSE = '</soapenv:Body></soapenv:Envelope>';

function response(method: string, inner: string): string {
  return `${ENV_OPEN}<${method}Response xmlns="urn:vim25">${inner}</${method}Response>${ENV_CLOSE}`;
}

function result(t: TypeTable, method: string, xml: string): unknown {
  const r = decodeResponse(t, method, xml);
  if (r.kind !== 'result') throw new Error(`expected a result, got fault ${r.fault.faultString}`);
  return r.value;
}

const propsXml = response(
  'RetrievePropertiesEx',
  '<returnval><objects><obj type="VirtualMachine">vm-1</obj>' +
    '<propSet><name>config.extraConfig</name><val xsi:type="ArrayOfOptionValue">' +
    '<OptionValue xsi:type="OptionValue"><key>a</key><value xsi:type="xsd:string">{&#34;x&#34;:1}&#xA;&amp;ü</value></OptionValue>' +
    '</val></propSet>' +
    '<propSet><name>runtime.powerState</name><val xsi:type="VirtualMachinePowerState">poweredOn</val></propSet>' +
    '<propSet><name>n</name><val xsi:type="xsd:int">42</val></propSet>' +
    '<propSet><name>l</name><val xsi:type="xsd:long">8589934592</val></propSet>' +
    '<propSet><name>b</name><val xsi:type="xsd:boolean">true</val></propSet>' +
    '<propSet><name>d</name><val xsi:type="xsd:dateTime">2024-05-06T07:08:09.5Z</val></propSet>' +
    '<propSet><name>bin</name><val xsi:type="xsd:base64Binary">aGkA</val></propSet>' +
    '<propSet><name>parent</name><val xsi:type="ManagedObjectReference" type="Folder">group-v1</val></propSet>' +
    '<propSet><name>hosts</name><val xsi:type="ArrayOfManagedObjectReference"><ManagedObjectReference type="HostSystem">host-1</ManagedObjectReference></val></propSet>' +
    '<propSet><name>tags</name><val xsi:type="ArrayOfString"><string>t1</string><string>t2</string></val></propSet>' +
    '<propSet><name>empty</name><val xsi:type="ArrayOfString"></val></propSet>' +
    '</objects></returnval>',
);

const expectedProps = {
  _type: 'RetrieveResult',
  objects: [
    {
      _type: 'ObjectContent',
      obj: { type: 'VirtualMachine', value: 'vm-1' },
      propSet: [
        {
          _type: 'DynamicProperty',
          name: 'config.extraConfig',
          val: [{ _type: 'OptionValue', key: 'a', value: '{"x":1}\n&ü' }],
        },
        { _type: 'DynamicProperty', name: 'runtime.powerState', val: 'poweredOn' },
        { _type: 'DynamicProperty', name: 'n', val: 42 },
        { _type: 'DynamicProperty', name: 'l', val: 8589934592 },
        { _type: 'DynamicProperty', name: 'b', val: true },
        { _type: 'DynamicProperty', name: 'd', val: new Date('2024-05-06T07:08:09.500Z') },
        { _type: 'DynamicProperty', name: 'bin', val: Buffer.from('hi\u0000') },
        { _type: 'DynamicProperty', name: 'parent', val: { type: 'Folder', value: 'group-v1' } },
        { _type: 'DynamicProperty', name: 'hosts', val: [{ type: 'HostSystem', value: 'host-1' }] },
        { _type: 'DynamicProperty', name: 'tags', val: ['t1', 't2'] },
        { _type: 'DynamicProperty', name: 'empty', val: [] },
      ],
    },
  ],
};

describe.each(['fast', 'saxes'] as const)('ResponseDecoder (%s tokenizer)', (p) => {
  beforeAll(() => {
    parser = p;
  });
  test('decodes primitives, anyType values, ArrayOfX and MoRefs', () => {
    expect(result(table, 'RetrievePropertiesEx', propsXml)).toEqual(expectedProps);
  });

  test('the same with the generated vim25 table', () => {
    const v = result(vim25, 'RetrievePropertiesEx', propsXml);
    expect(v).toEqual(expectedProps);
  });

  test('a schema array with one element is still an array; an array return with none is []', () => {
    const one = response(
      'RetrieveProperties',
      '<returnval><obj type="VirtualMachine">vm-1</obj><propSet><name>name</name><val xsi:type="xsd:string">x</val></propSet></returnval>',
    );
    const v = result(table, 'RetrieveProperties', one) as { propSet: unknown[] }[];
    expect(Array.isArray(v)).toBe(true);
    expect(v).toHaveLength(1);
    expect(Array.isArray(v[0].propSet)).toBe(true);
    expect(result(table, 'RetrieveProperties', response('RetrieveProperties', ''))).toEqual([]);
    expect(result(table, 'Logout', response('Logout', ''))).toBeUndefined();
  });

  test('polymorphic values take their xsi:type (any prefix) and keep base fields', () => {
    const xml = response(
      'RetrievePropertiesEx',
      '<returnval><objects><obj type="VirtualMachine">vm-1</obj><propSet><name>config.hardware.device</name>' +
        '<val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="ArrayOfVirtualDevice">' +
        '<VirtualDevice XMLSchema-instance:type="VirtualDisk"><key>2000</key><deviceInfo><label>Hard disk 1</label><summary>s</summary></deviceInfo>' +
        '<capacityInKB>1048576</capacityInKB><shares xsi:type="xsd:string">normal</shares></VirtualDevice>' +
        '<VirtualDevice xsi:type="vim25:VirtualFutureDevice"><key>9</key><sparkle>yes</sparkle></VirtualDevice>' +
        '</val></propSet></objects></returnval>',
    );
    const v = result(table, 'RetrievePropertiesEx', xml) as { objects: { propSet: { val: unknown }[] }[] };
    expect(v.objects[0].propSet[0].val).toEqual([
      {
        _type: 'VirtualDisk',
        key: 2000,
        deviceInfo: { _type: 'Description', label: 'Hard disk 1', summary: 's' },
        capacityInKB: 1048576,
        shares: 'normal',
      },
      // A subtype the table lacks: known fields of the declared type typed, the rest generic.
      { _type: 'VirtualFutureDevice', key: 9, sparkle: 'yes' },
    ]);
  });

  test('unknown fields and types decode generically and never throw', () => {
    const xml = response(
      'Login',
      '<returnval><key>k</key><userName>u</userName><loginTime>2024-01-01T00:00:00Z</loginTime>' +
        '<newField>v</newField><nested><a>1</a><a>2</a><b><c>deep</c></b></nested>' +
        '<typed xsi:type="BrandNewType"><x>1</x></typed><emptyTyped xsi:type="BrandNewType"/>' +
        '<enumish xsi:type="BrandNewEnum">val</enumish></returnval>',
    );
    expect(result(table, 'Login', xml)).toEqual({
      _type: 'UserSession',
      key: 'k',
      userName: 'u',
      loginTime: new Date('2024-01-01T00:00:00Z'),
      newField: 'v',
      nested: { a: ['1', '2'], b: { c: 'deep' } },
      typed: { _type: 'BrandNewType', x: '1' },
      emptyTyped: { _type: 'BrandNewType' },
      enumish: 'val',
    });
    // A method the table does not know at all.
    expect(result(table, 'Mystery', response('Mystery', '<returnval><a>1</a></returnval>'))).toEqual({ a: '1' });
  });

  test('ignores the SOAP header', () => {
    const xml = `${ENV_OPEN.replace('<soapenv:Body>', '<soapenv:Header><operationID>x</operationID></soapenv:Header><soapenv:Body>')}<CurrentTimeResponse xmlns="urn:vim25"><returnval>2024-01-01T00:00:00Z</returnval></CurrentTimeResponse>${ENV_CLOSE}`;
    expect(result(table, 'CurrentTime', xml)).toEqual(new Date('2024-01-01T00:00:00Z'));
  });

  test('chunked feeding, split anywhere (mid-tag, mid-entity, mid-character), gives the same value', () => {
    const whole = result(table, 'RetrievePropertiesEx', propsXml);
    // Split as a string at every position, including inside &#34; and inside a surrogate pair.
    for (let i = 1; i < propsXml.length; i += 7) {
      const d = new ResponseDecoder(table, 'RetrievePropertiesEx', { parser });
      d.write(propsXml.slice(0, i));
      d.write(propsXml.slice(i));
      const r = d.end();
      expect(r.kind === 'result' && r.value).toEqual(whole);
    }
    // One character at a time.
    const d = new ResponseDecoder(table, 'RetrievePropertiesEx', { parser });
    for (const ch of propsXml) d.write(ch);
    const r = d.end();
    expect(r.kind === 'result' && r.value).toEqual(whole);
  });

  test('entities and non-ASCII text', () => {
    const xml = response(
      'Login',
      '<returnval><key>&#34;q&#34; &#xA;&#x9;&amp;&lt;&gt;&apos;&quot; &#x1F600; 日本 é</key><userName>u</userName><loginTime>2024-01-01T00:00:00Z</loginTime></returnval>',
    );
    const v = result(table, 'Login', xml) as { key: string };
    expect(v.key).toBe('"q" \n\t&<>\'" 😀 日本 é');
  });

  test('SOAP faults: faultstring and detail decoded by type', () => {
    const xml =
      `${ENV_OPEN}<soapenv:Fault><faultcode>ServerFaultCode</faultcode>` +
      '<faultstring>Cannot complete login due to an incorrect user name or password.</faultstring>' +
      '<detail><InvalidLoginFault xmlns="urn:vim25" xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="InvalidLogin"></InvalidLoginFault></detail>' +
      `</soapenv:Fault>${ENV_CLOSE}`;
    const r: DecodedResponse = decodeResponse(table, 'Login', xml);
    expect(r.kind).toBe('fault');
    if (r.kind !== 'fault') return;
    expect(r.fault.faultCode).toBe('ServerFaultCode');
    expect(r.fault.faultString).toMatch(/incorrect user name/);
    expect(r.fault.detail).toEqual({ _type: 'InvalidLogin' });
    expect(r.fault.detailXml).toContain('<InvalidLoginFault');
    const err = faultFromSoap(r.fault);
    expect(err).toBeInstanceOf(InvalidLoginError);
    expect(isFault(err, 'InvalidLogin')).toBe(true);
    expect(err.message).toMatch(/^InvalidLogin: Cannot complete login/);
  });

  test('fault detail typed from the element name when xsi:type is absent; fields decoded', () => {
    const xml =
      `${ENV_OPEN}<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>File [ds] x not found</faultstring>` +
      '<detail><FileNotFoundFault xmlns="urn:vim25"><file>[ds] x</file></FileNotFoundFault></detail>' +
      `</soapenv:Fault>${ENV_CLOSE}`;
    const r = decodeResponse(vim25, 'DeleteDatastoreFile_Task', xml);
    if (r.kind !== 'fault') throw new Error('expected a fault');
    const err = faultFromSoap(r.fault);
    expect(err).toBeInstanceOf(FileNotFoundError);
    expect(isFault(err, 'FileFault')).toBe(true);
    if (isFault(err, 'FileNotFound')) expect(err.file).toBe('[ds] x');
  });

  test('TaskInProgress detail: the busy task decoded as a managed object reference', () => {
    const xml =
      `${ENV_OPEN}<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>Another task is already in progress.</faultstring>` +
      '<detail><TaskInProgressFault xmlns="urn:vim25" xsi:type="TaskInProgress"><task type="Task">task-42</task></TaskInProgressFault></detail>' +
      `</soapenv:Fault>${ENV_CLOSE}`;
    const r = decodeResponse(vim25, 'PowerOnVM_Task', xml);
    if (r.kind !== 'fault') throw new Error('expected a fault');
    const err = faultFromSoap(r.fault);
    expect(err).toBeInstanceOf(TaskInProgressError);
    expect((err as TaskInProgressError).task).toEqual({ type: 'Task', value: 'task-42' });
  });

  test('unknown faults keep the raw detail', () => {
    const xml =
      `${ENV_OPEN}<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>boom</faultstring>` +
      '<detail><FancyNewFault xmlns="urn:vim25" xsi:type="FancyNew"><why>a &amp; b</why></FancyNewFault></detail>' +
      `</soapenv:Fault>${ENV_CLOSE}`;
    const r = decodeResponse(vim25, 'Whatever', xml);
    if (r.kind !== 'fault') throw new Error('expected a fault');
    const err = faultFromSoap(r.fault);
    expect(isFault(err, 'Unknown')).toBe(true);
    expect(err.faultName).toBe('FancyNew');
    expect(err.fault).toEqual({ _type: 'FancyNew', why: 'a & b' });
    expect(err.detailXml).toBe(
      '<FancyNewFault xmlns="urn:vim25" xsi:type="FancyNew"><why>a &amp; b</why></FancyNewFault>',
    );
    const bare = decodeResponse(
      vim25,
      'Whatever',
      `${ENV_OPEN}<soapenv:Fault><faultcode>Client</faultcode><faultstring>bad request</faultstring></soapenv:Fault>${ENV_CLOSE}`,
    );
    if (bare.kind !== 'fault') throw new Error('expected a fault');
    expect(faultFromSoap(bare.fault).faultName).toBe('Unknown');
  });

  test('task errors (LocalizedMethodFault) map to the same classes', () => {
    const err = faultFromLocalized({ fault: { _type: 'FileNotFound', file: 'f' } as never, localizedMessage: 'gone' });
    expect(err).toBeInstanceOf(FileNotFoundError);
    expect(err.message).toBe('FileNotFound: gone');
  });

  test('malformed XML is an error, not a hang', () => {
    expect(() => decodeResponse(table, 'Login', `${ENV_OPEN}<LoginResponse><returnval>`)).toThrow(/malformed/);
    expect(() => decodeResponse(table, 'Login', `${ENV_OPEN}<a></b>${ENV_CLOSE}`)).toThrow(/malformed/);
    expect(() => decodeResponse(table, 'Login', `${ENV_OPEN}<a>&bogus;</a>${ENV_CLOSE}`)).toThrow(/malformed/);
    expect(() => decodeResponse(table, 'Login', '<html>oops</html>')).toThrow(/neither a result nor a fault/);
  });

  test('decodes a ~1 MB RetrievePropertiesEx quickly', () => {
    const parts: string[] = [];
    for (let i = 0; i < 200; i++) {
      parts.push(
        `<objects><obj type="VirtualMachine">vm-${i}</obj><propSet><name>config.extraConfig</name><val xsi:type="ArrayOfOptionValue">`,
      );
      for (let j = 0; j < 20; j++) {
        parts.push(
          `<OptionValue xsi:type="OptionValue"><key>guestinfo.vch.k${j}</key><value xsi:type="xsd:string">{&#34;id&#34;:&#34;${i}-${j}-0123456789abcdef0123456789abcdef&#34;}</value></OptionValue>`,
        );
      }
      parts.push(
        `</val></propSet><propSet><name>name</name><val xsi:type="xsd:string">c-${i}</val></propSet></objects>`,
      );
    }
    const xml = response('RetrievePropertiesEx', `<returnval>${parts.join('')}</returnval>`);
    const start = process.hrtime.bigint();
    const v = result(vim25, 'RetrievePropertiesEx', xml) as { objects: unknown[] };
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    expect(v.objects).toHaveLength(200);
    // Generous: ~40 ms on the reference machine; a regression to per-element allocation shows up.
    expect(ms).toBeLessThan(1000);
  });
});

/** Tokens as a flat list, to compare the fast scanner with saxes. */
function tokens(xml: string, chunk: number, which: 'fast' | 'saxes'): string[] {
  const out: string[] = [];
  let text = '';
  const flush = (): void => {
    if (text !== '') out.push(`T${JSON.stringify(text)}`);
    text = '';
  };
  const h: XmlHandler = {
    onOpen: (name, attrs) => {
      flush();
      out.push(`<${name} ${JSON.stringify(attrs)}`);
    },
    onText: (t) => {
      text += t;
    },
    onClose: () => {
      flush();
      out.push('>');
    },
  };
  if (which === 'fast') {
    const s = new XmlScanner(h);
    for (let i = 0; i < xml.length; i += chunk) s.write(xml.slice(i, i + chunk));
    s.close();
  } else {
    const p = new SaxesParser({ position: false });
    p.on('opentag', (t) => h.onOpen(t.name, t.attributes as Record<string, string>));
    p.on('text', h.onText);
    p.on('cdata', h.onText);
    p.on('closetag', h.onClose);
    for (let i = 0; i < xml.length; i += chunk) p.write(xml.slice(i, i + chunk));
    p.close();
  }
  // Whitespace-only text between elements is insignificant to the decoder.
  return out.filter((t) => !/^T"(\\n|\\r|\\t| )*"$/.test(t));
}

describe('XmlScanner', () => {
  const doc =
    '\uFEFF<?xml version="1.0" encoding="UTF-8"?>\r\n<!-- a comment -->' +
    '<r a=\'single "q"\' b="x&#xA;y\tz\r\nw &amp; &lt;" c = "1">' +
    'line1\r\nline2\rline3\n&#34;&#x1F600;&#128512;&apos;&quot;&gt;' +
    '<![CDATA[raw <not a tag> &amp;]]><?pi inside?><e/><f x="1"/>' +
    '<g >text with > and ]] inside</g ><!-- <h> --></r>\n';

  test.each([1, 2, 3, 5, 7, 16, 1000])('agrees with saxes when fed in chunks of %i', (chunk) => {
    expect(tokens(doc, chunk, 'fast')).toEqual(tokens(doc, 1000, 'saxes'));
  });

  test('normalizes line ends in text and whitespace in attributes', () => {
    const t = tokens(doc, 3, 'fast');
    expect(t).toContain(`<r ${JSON.stringify({ a: 'single "q"', b: 'x\ny z w & <', c: '1' })}`);
    expect(t).toContain(`T${JSON.stringify('line1\nline2\nline3\n"😀😀\'">raw <not a tag> &amp;')}`);
  });

  test('a CR at the end of a chunk followed by LF is one line end', () => {
    expect(tokens('<r>a\r\nb</r>', 2, 'fast')).toEqual(['<r {}', 'T"a\\nb"', '>']);
  });

  test('refuses DTDs, mismatched and missing end tags, bad references, trailing junk', () => {
    const bad = [
      '<!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>',
      '<r><a></r>',
      '<r>',
      '<r>&#0;</r>',
      '<r>&#xD800;</r>',
      '<r>&#x110000;</r>',
      '<r>&#12a;</r>',
      '<r>&unknown;</r>',
      '<r>& loose</r>',
      '<r a=1></r>',
      '<r></r><r2/>',
      '<r></r>junk',
      '',
    ];
    for (const xml of bad) {
      expect(() => tokens(xml, 4, 'fast')).toThrow();
    }
  });
});
