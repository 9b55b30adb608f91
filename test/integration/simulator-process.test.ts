/**
 * The box's vcsim as a process: ready line, TLS thumbprint, enforced credentials, the options
 * (plain HTTP, address and port, model sizes, datastore folder), our InstantClone_Task and
 * extraConfig semantics, and its lifetime tied to stdin. Raw SOAP on
 * purpose: this tests the simulator, not the vim25 client.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { connect } from 'node:tls';
import { Agent, fetch } from 'undici';
import { ensureSimulatorBinary } from '../../src/simulator/vcsim/build';
import type { RunningSimulator } from '../../src/simulator/vcsim/process';
import { startSimulator } from '../../src/simulator/vcsim/process';
import { startTestSimulator, TEST_PASSWORD, TEST_USERNAME } from '../helpers/simulator';

// The certificate is self-signed; the thumbprint test below is what pins it.
const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
afterAll(() => dispatcher.close());

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const moref = (tag: string, type: string, value: string) => `<${tag} type="${type}">${value}</${tag}>`;
const options = (tag: string, kv: Record<string, string>) =>
  Object.entries(kv)
    .map(
      ([k, v]) =>
        `<${tag} xsi:type="OptionValue"><key>${esc(k)}</key><value xsi:type="xsd:string">${esc(v)}</value></${tag}>`,
    )
    .join('');

/** A minimal SOAP session: posts one method body, keeps the session cookie. */
class RawSoap {
  private cookie?: string;
  constructor(private readonly url: string) {}

  async call(method: string, inner: string): Promise<{ status: number; xml: string }> {
    const body =
      '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"' +
      ' xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">' +
      `<soapenv:Body><${method} xmlns="urn:vim25">${inner}</${method}></soapenv:Body></soapenv:Envelope>`;
    const res = await fetch(this.url, {
      method: 'POST',
      dispatcher,
      body,
      headers: {
        'content-type': 'text/xml; charset=utf-8',
        soapaction: 'urn:vim25/6.7',
        ...(this.cookie ? { cookie: this.cookie } : {}),
      },
    });
    const setCookie = res.headers.get('set-cookie');
    if (setCookie) this.cookie = setCookie.split(';')[0];
    return { status: res.status, xml: await res.text() };
  }

  login(user: string, password: string) {
    return this.call(
      'Login',
      `${moref('_this', 'SessionManager', 'SessionManager')}<userName>${esc(user)}</userName><password>${esc(password)}</password>`,
    );
  }

  async vmByPath(inventoryPath: string): Promise<string> {
    const { xml } = await this.call(
      'FindByInventoryPath',
      `${moref('_this', 'SearchIndex', 'SearchIndex')}<inventoryPath>${esc(inventoryPath)}</inventoryPath>`,
    );
    const vm = /<returnval type="VirtualMachine">([^<]+)</.exec(xml)?.[1];
    if (!vm) throw new Error(`no VM at ${inventoryPath}: ${xml}`);
    return vm;
  }

  /** Reads properties of one object; returns the response XML. */
  async retrieve(type: string, value: string, paths: string[]): Promise<string> {
    const props = paths.map((p) => `<pathSet>${p}</pathSet>`).join('');
    const { status, xml } = await this.call(
      'RetrievePropertiesEx',
      `${moref('_this', 'PropertyCollector', 'propertyCollector')}<specSet><propSet><type>${type}</type>${props}</propSet>` +
        `<objectSet>${moref('obj', type, value)}</objectSet></specSet><options/>`,
    );
    if (status !== 200) throw new Error(`RetrievePropertiesEx ${type}:${value}: ${xml}`);
    return xml;
  }

  /** Starts a VirtualMachine task method and waits for it; returns the task's info XML. */
  async task(method: string, vm: string, inner = ''): Promise<{ state: string; xml: string }> {
    const { status, xml } = await this.call(method, `${moref('_this', 'VirtualMachine', vm)}${inner}`);
    const task = /<returnval type="Task">([^<]+)</.exec(xml)?.[1];
    if (status !== 200 || !task) throw new Error(`${method}: ${xml}`);
    for (let i = 0; i < 100; i++) {
      const info = await this.retrieve('Task', task, ['info']);
      const state = /<state>(\w+)<\/state>/.exec(info)?.[1] ?? '';
      if (state === 'success' || state === 'error') return { state, xml: info };
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${method}: task ${task} never finished`);
  }

  /** extraConfig (as [key, value] pairs, in order) and powerState of a VM. */
  async vmState(vm: string): Promise<{ powerState: string; extraConfig: Array<[string, string]> }> {
    const xml = await this.retrieve('VirtualMachine', vm, ['runtime.powerState', 'config.extraConfig']);
    const powerState = /<name>runtime\.powerState<\/name><val[^>]*>(\w+)</.exec(xml)?.[1] ?? '';
    const extraConfig = [...xml.matchAll(/<key>([^<]*)<\/key><value[^>]*>([^<]*)<\/value>/g)].map(
      (m): [string, string] => [m[1], m[2]],
    );
    return { powerState, extraConfig };
  }
}

describe('vcsim process', () => {
  let sim: RunningSimulator;
  let soap: RawSoap;

  beforeAll(async () => {
    sim = await startTestSimulator();
    soap = new RawSoap(sim.url);
  }, 300_000);

  afterAll(async () => {
    await sim?.stop();
  });

  test('prints a ready line describing itself', () => {
    expect(sim.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/sdk$/);
    expect(sim.username).toBe(TEST_USERNAME);
    expect(sim.password).toBe(TEST_PASSWORD);
    expect(sim.datastores).toEqual([expect.objectContaining({ name: 'LocalDS_0', datacenter: 'DC0' })]);
    expect(sim.vms).toBe(4);
  });

  test('the printed thumbprints are those of the served certificate', async () => {
    const { hostname, port } = new URL(sim.url);
    const socket = connect({ host: hostname, port: Number(port), rejectUnauthorized: false });
    await once(socket, 'secureConnect');
    const cert = socket.getPeerCertificate();
    socket.end();
    expect(sim.thumbprint).toMatch(/^([0-9A-F]{2}:){19}[0-9A-F]{2}$/);
    expect(sim.thumbprint).toBe(cert.fingerprint);
    expect(sim.thumbprintSha256).toBe(cert.fingerprint256);
  });

  test('a wrong password is an InvalidLogin fault; the right one logs in', async () => {
    const wrong = await new RawSoap(sim.url).login(TEST_USERNAME, 'nope');
    expect(wrong.status).toBe(500);
    expect(wrong.xml).toMatch(/InvalidLogin/);
    const right = await soap.login(TEST_USERNAME, TEST_PASSWORD);
    expect(right.status).toBe(200);
    expect(right.xml).toContain(`<userName>${TEST_USERNAME}</userName>`);
  });

  test('ReconfigVM_Task merges extraConfig like vSphere (last value wins, empty removes)', async () => {
    const vm = await soap.vmByPath('DC0/vm/DC0_C0_RP0_VM0');
    const reconfig = (kv: Record<string, string>) =>
      soap.task('ReconfigVM_Task', vm, `<spec>${options('extraConfig', kv)}</spec>`);
    expect((await reconfig({ 'guestinfo.x': '1', 'guestinfo.y': '1' })).state).toBe('success');
    expect((await reconfig({ 'guestinfo.x': '2', 'guestinfo.y': '' })).state).toBe('success');
    const { extraConfig } = await soap.vmState(vm);
    expect(extraConfig.filter(([k]) => k.startsWith('guestinfo.'))).toEqual([['guestinfo.x', '2']]);
  });

  test('WaitForUpdatesEx reports an extraConfig change (0.24.2 alone does not)', async () => {
    const vm = await soap.vmByPath('DC0/vm/DC0_C0_RP0_VM0');
    const pc = moref('_this', 'PropertyCollector', 'propertyCollector');
    const filter = await soap.call(
      'CreateFilter',
      `${pc}<spec><propSet><type>VirtualMachine</type><pathSet>config.extraConfig</pathSet></propSet>` +
        `<objectSet>${moref('obj', 'VirtualMachine', vm)}</objectSet></spec><partialUpdates>false</partialUpdates>`,
    );
    expect(filter.status).toBe(200);
    const wait = (version: string) =>
      soap.call(
        'WaitForUpdatesEx',
        `${pc}<version>${version}</version><options><maxWaitSeconds>10</maxWaitSeconds></options>`,
      );
    const first = await wait('');
    const version = /<version>([^<]*)<\/version>/.exec(first.xml)?.[1] ?? '';
    const next = wait(version);
    const reconfig = `<spec>${options('extraConfig', { 'guestinfo.watched': 'yes' })}</spec>`;
    expect((await soap.task('ReconfigVM_Task', vm, reconfig)).state).toBe('success');
    expect((await next).xml).toContain('<key>guestinfo.watched</key>');
  });

  test('InstantClone_Task of a powered-on VM: a powered-on child with merged extraConfig', async () => {
    const source = await soap.vmByPath('DC0/vm/DC0_H0_VM0');
    const reconfig = `<spec>${options('extraConfig', { 'guestinfo.a': '1', 'guestinfo.b': '2' })}</spec>`;
    expect((await soap.task('ReconfigVM_Task', source, reconfig)).state).toBe('success');

    const spec = `<spec><name>ic-child</name><location/>${options('config', { 'guestinfo.b': 'over', 'guestinfo.c': '3' })}</spec>`;
    const done = await soap.task('InstantClone_Task', source, spec);
    expect(done.state).toBe('success');
    const child = /<result [^>]*\btype="VirtualMachine"[^>]*>([^<]+)</.exec(done.xml)?.[1];
    expect(child).toBeDefined();
    expect(child).not.toBe(source);

    const state = await soap.vmState(child!);
    expect(state.powerState).toBe('poweredOn');
    const ec = new Map(state.extraConfig);
    expect(ec.size).toBe(state.extraConfig.length); // no duplicate keys
    expect(ec.get('guestinfo.a')).toBe('1');
    expect(ec.get('guestinfo.b')).toBe('over');
    expect(ec.get('guestinfo.c')).toBe('3');
    expect(ec.get('sim.instantClone.source')).toBe(source);
    expect(await soap.vmByPath('DC0/vm/ic-child')).toBe(child);

    // The name is taken now.
    const again = await soap.task('InstantClone_Task', source, spec);
    expect(again.state).toBe('error');
    expect(again.xml).toMatch(/DuplicateName/);
  });

  test('InstantClone_Task of a powered-off VM fails with InvalidPowerState', async () => {
    const source = await soap.vmByPath('DC0/vm/DC0_H0_VM1');
    expect((await soap.task('PowerOffVM_Task', source)).state).toBe('success');
    const done = await soap.task('InstantClone_Task', source, '<spec><name>ic-off</name><location/></spec>');
    expect(done.state).toBe('error');
    expect(done.xml).toMatch(/InvalidPowerState/);
  });

  test('a frozen VM (sim.instantClone.freeze) can be instant-cloned', async () => {
    const source = await soap.vmByPath('DC0/vm/DC0_C0_RP0_VM1');
    const freeze = `<spec>${options('extraConfig', { 'sim.instantClone.freeze': 'TRUE' })}</spec>`;
    expect((await soap.task('ReconfigVM_Task', source, freeze)).state).toBe('success');
    expect(await soap.retrieve('VirtualMachine', source, ['runtime.instantCloneFrozen'])).toMatch(/>true</);
    const done = await soap.task('InstantClone_Task', source, '<spec><name>ic-frozen</name><location/></spec>');
    expect(done.state).toBe('success');
  });
});

/** A port nobody listens on right now (the OS's pick for port 0), to ask vcsim for a fixed one. */
async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

describe('vcsim options', () => {
  test('plain HTTP on a chosen address and port, enforced credentials, model sizes, datastores in a chosen folder', async () => {
    const port = await freePort();
    const datastoreDir = await mkdtemp(path.join(tmpdir(), 'vch-sim-options-'));
    let sim: RunningSimulator | undefined;
    try {
      sim = await startSimulator({
        listen: '127.0.0.1',
        port,
        tls: false,
        username: 'opt-user',
        password: 'opt-pass',
        datacenters: 2,
        clusters: 1,
        hostsPerCluster: 2,
        standaloneHosts: 1,
        vms: 4,
        datastores: 2,
        datastoreDir,
        quiet: true,
      });
      expect(sim.url).toBe(`http://127.0.0.1:${port}/sdk`);
      expect(sim.thumbprint).toBeUndefined();
      expect(sim.thumbprintSha256).toBeUndefined();
      // Per datacenter: one cluster of 2 hosts and 1 standalone host; one VM in each of the 4 pools.
      expect(sim.hosts).toBe(6);
      expect(sim.vms).toBe(4);
      expect(sim.datastores.map((d) => `${d.datacenter}/${d.name}`)).toEqual([
        'DC0/LocalDS_0',
        'DC0/LocalDS_1',
        'DC1/LocalDS_0',
        'DC1/LocalDS_1',
      ]);
      for (const ds of sim.datastores) {
        expect(path.dirname(ds.path)).toBe(datastoreDir);
        expect(existsSync(ds.path)).toBe(true);
      }

      const raw = new RawSoap(sim.url);
      expect((await raw.login('opt-user', 'wrong')).xml).toMatch(/InvalidLogin/);
      expect((await raw.login('opt-user', 'opt-pass')).status).toBe(200);
      expect(await raw.vmByPath('DC1/vm/DC1_H0_VM0')).toMatch(/^vm-/);

      await sim.stop();
      // The folders behind the datastores outlive the simulator when the caller chose where they go.
      for (const ds of sim.datastores) expect(existsSync(ds.path)).toBe(true);
    } finally {
      await sim?.stop();
      await rm(datastoreDir, { recursive: true, force: true });
    }
  }, 300_000);
});

describe('vcsim lifetime', () => {
  test('exits when its stdin reaches EOF', async () => {
    const binary = await ensureSimulatorBinary();
    const child = spawn(binary, ['--vms=0', '--quiet'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
    expect(JSON.parse(line).url).toMatch(/^https:/);
    const exited = once(child, 'exit');
    child.stdin.end();
    const [code] = await exited;
    expect(code).toBe(0);
  }, 300_000);

  test('a simulator that dies before it is ready is an Error with its stderr', async () => {
    await expect(startSimulator({ username: 'only-a-user' })).rejects.toThrow(/username and --password go together/);
  }, 300_000);
});
