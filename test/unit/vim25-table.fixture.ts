/** A small hand-made vim25 type table for the envelope writer and decoder tests. */
import type { TypeTable, VimField } from '../../src/vsphere/vim25/typeTable';

const f = (name: string, type: string, optional = true, array = false): VimField => ({ name, type, optional, array });

export const table: TypeTable = {
  types: {
    DynamicData: { kind: 'complex', name: 'DynamicData', fields: [] },
    OptionValue: {
      kind: 'complex',
      name: 'OptionValue',
      base: 'DynamicData',
      fields: [f('key', 'xsd:string', false), f('value', 'xsd:anyType')],
    },
    Description: {
      kind: 'complex',
      name: 'Description',
      base: 'DynamicData',
      fields: [f('label', 'xsd:string', false), f('summary', 'xsd:string', false)],
    },
    VirtualDevice: {
      kind: 'complex',
      name: 'VirtualDevice',
      base: 'DynamicData',
      fields: [f('key', 'xsd:int', false), f('deviceInfo', 'Description'), f('unitNumber', 'xsd:int')],
    },
    VirtualDisk: {
      kind: 'complex',
      name: 'VirtualDisk',
      base: 'VirtualDevice',
      fields: [f('capacityInKB', 'xsd:long', false), f('shares', 'xsd:anyType')],
    },
    VirtualMachineConfigSpec: {
      kind: 'complex',
      name: 'VirtualMachineConfigSpec',
      base: 'DynamicData',
      fields: [
        f('name', 'xsd:string'),
        f('memoryMB', 'xsd:long'),
        f('annotation', 'xsd:string'),
        f('extraConfig', 'OptionValue', true, true),
        f('device', 'VirtualDevice', true, true),
        f('powerState', 'VirtualMachinePowerState'),
        f('created', 'xsd:dateTime'),
        f('blob', 'xsd:base64Binary'),
        f('enabled', 'xsd:boolean'),
        f('ratio', 'xsd:double'),
        f('folder', 'ManagedObjectReference'),
        f('hosts', 'ManagedObjectReference', true, true),
      ],
    },
    VirtualMachinePowerState: { kind: 'enum', name: 'VirtualMachinePowerState', values: ['poweredOff', 'poweredOn'] },
    DynamicProperty: {
      kind: 'complex',
      name: 'DynamicProperty',
      base: 'DynamicData',
      fields: [f('name', 'xsd:string', false), f('val', 'xsd:anyType', false)],
    },
    ObjectContent: {
      kind: 'complex',
      name: 'ObjectContent',
      base: 'DynamicData',
      fields: [f('obj', 'ManagedObjectReference', false), f('propSet', 'DynamicProperty', true, true)],
    },
    RetrieveResult: {
      kind: 'complex',
      name: 'RetrieveResult',
      base: 'DynamicData',
      fields: [f('token', 'xsd:string'), f('objects', 'ObjectContent', false, true)],
    },
    MethodFault: { kind: 'complex', name: 'MethodFault', fields: [f('faultMessage', 'xsd:string', true, true)] },
    VimFault: { kind: 'complex', name: 'VimFault', base: 'MethodFault', fields: [] },
    InvalidLogin: { kind: 'complex', name: 'InvalidLogin', base: 'VimFault', fields: [] },
    FileFault: { kind: 'complex', name: 'FileFault', base: 'VimFault', fields: [f('file', 'xsd:string', false)] },
    FileNotFound: { kind: 'complex', name: 'FileNotFound', base: 'FileFault', fields: [] },
    UserSession: {
      kind: 'complex',
      name: 'UserSession',
      base: 'DynamicData',
      fields: [
        f('key', 'xsd:string', false),
        f('userName', 'xsd:string', false),
        f('loginTime', 'xsd:dateTime', false),
      ],
    },
  },
  methods: {
    Login: {
      name: 'Login',
      params: [f('userName', 'xsd:string', false), f('password', 'xsd:string', false), f('locale', 'xsd:string')],
      returns: f('returnval', 'UserSession', false),
    },
    ReconfigVM_Task: {
      name: 'ReconfigVM_Task',
      params: [f('spec', 'VirtualMachineConfigSpec', false)],
      returns: f('returnval', 'ManagedObjectReference', false),
    },
    SetValue: { name: 'SetValue', params: [f('value', 'xsd:anyType', false)] },
    RetrievePropertiesEx: {
      name: 'RetrievePropertiesEx',
      params: [],
      returns: f('returnval', 'RetrieveResult'),
    },
    RetrieveProperties: {
      name: 'RetrieveProperties',
      params: [],
      returns: f('returnval', 'ObjectContent', true, true),
    },
    Logout: { name: 'Logout', params: [] },
    CurrentTime: { name: 'CurrentTime', params: [], returns: f('returnval', 'xsd:dateTime', false) },
    TerminateSession: { name: 'TerminateSession', params: [f('sessionId', 'xsd:string', false, true)] },
  },
};
