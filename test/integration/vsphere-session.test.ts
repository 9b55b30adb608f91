import { Readable } from 'node:stream';
import type { RunningSimulator } from '../../src/simulator/vcsim/process';
import { type ConnectOptions, parseServiceVersions, type VimClient } from '../../src/vsphere/client';
import { InvalidLoginError, isFault, NotAuthenticatedError, UnknownFaultError } from '../../src/vsphere/faults';
import { ThumbprintMismatchError, Transport } from '../../src/vsphere/transport';
import { startTestSimulator } from '../helpers/simulator';
import { connectToSimulator } from '../helpers/vsphereSession';

let sim: RunningSimulator;
const clients: VimClient[] = [];

async function connect(extra: Partial<ConnectOptions> = {}): Promise<VimClient> {
  const c = await connectToSimulator(sim, extra);
  clients.push(c);
  return c;
}

function sessionManagerOf(c: VimClient) {
  const sm = c.serviceContent.sessionManager;
  if (sm === undefined) throw new Error('no session manager');
  return sm;
}

/** Count the Login calls a client sends. */
function countLogins(c: VimClient): () => number {
  let n = 0;
  const soap = c.transport.soap.bind(c.transport);
  c.transport.soap = (envelope, sink, signal) => {
    if (envelope.includes('<Login xmlns="urn:vim25">')) n++;
    return soap(envelope, sink, signal);
  };
  return () => n;
}

beforeAll(async () => {
  sim = await startTestSimulator();
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await sim?.stop();
});

test('connects, reads the API version and the ServiceContent, logs in', async () => {
  const c = await connect();
  expect(c.apiVersion).toBe(c.serviceContent.about.apiVersion);
  expect(c.apiVersion).toMatch(/^\d+\.\d+/);
  expect(c.serviceContent._type).toBe('ServiceContent');
  expect(c.serviceContent.rootFolder).toEqual({ type: 'Folder', value: expect.any(String) });
  expect(c.session?.userName).toBe(sim.username);
  const now = await c.invoke('CurrentTime', c.serviceInstance, {});
  expect(now).toBeInstanceOf(Date);
  expect(Math.abs(now.getTime() - Date.now())).toBeLessThan(60_000);
});

test('the API version comes from /sdk/vimServiceVersions.xml unless the caller names one', async () => {
  // Spy on the class: the client makes its transport inside connect().
  const getText = jest.spyOn(Transport.prototype, 'getText');
  try {
    const c = await connect();
    expect(getText).toHaveBeenCalledWith('/sdk/vimServiceVersions.xml', undefined);
    const served = await (getText.mock.results[0].value as ReturnType<Transport['getText']>);
    expect(served.status).toBe(200);
    expect(c.transport.apiVersion).toBe(parseServiceVersions(served.text));
    expect(c.apiVersion).toBe(c.transport.apiVersion);

    getText.mockClear();
    const pinned = await connect({ apiVersion: '6.5' });
    expect(getText).not.toHaveBeenCalled();
    expect(pinned.apiVersion).toBe('6.5');
    expect(await pinned.invoke('CurrentTime', pinned.serviceInstance, {})).toBeInstanceOf(Date);
  } finally {
    getText.mockRestore();
  }
});

test('a wrong password is InvalidLogin', async () => {
  const err = await connect({ password: 'wrong' }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(InvalidLoginError);
  expect(isFault(err, 'InvalidLogin')).toBe(true);
});

test.each([
  ['SHA-1', '00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33'],
  ['SHA-256', 'ab'.repeat(32)],
])('a wrong %s thumbprint is refused, naming the right one', async (_kind, wrong) => {
  const err = await connect({ thumbprint: wrong }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ThumbprintMismatchError);
  const msg = (err as Error).message;
  expect(msg).toContain(`expected ${wrong}`);
  expect(msg.toUpperCase()).toContain(String(sim.thumbprint).toUpperCase());
  expect(msg.toUpperCase()).toContain(String(sim.thumbprintSha256).toUpperCase());
});

test('SHA-256 pinning works, in any case and with or without colons', async () => {
  const sha256 = String(sim.thumbprintSha256);
  const c = await connect({ thumbprint: sha256.replace(/:/g, '').toLowerCase() });
  expect(await c.invoke('CurrentTime', c.serviceInstance, {})).toBeInstanceOf(Date);
  const c1 = await connect({ thumbprint: String(sim.thumbprint).toLowerCase() });
  expect(c1.session).toBeDefined();
});

test('without a pin the self-signed certificate is refused, unless insecure is asked for', async () => {
  await expect(connect({ thumbprint: undefined })).rejects.toThrow(/certificate/i);
  const c = await connect({ thumbprint: undefined, insecure: true });
  expect(c.session).toBeDefined();
});

test('a session terminated on the server is re-established transparently, once for concurrent calls', async () => {
  const a = await connect();
  const b = await connect();
  const logins = countLogins(a);
  const firstKey = a.session?.key;
  expect(firstKey).toBeDefined();
  await b.invoke('TerminateSession', sessionManagerOf(b), { sessionId: [String(firstKey)] });

  const times = await Promise.all([1, 2, 3, 4, 5].map(() => a.invoke('CurrentTime', a.serviceInstance, {})));
  for (const t of times) expect(t).toBeInstanceOf(Date);
  expect(logins()).toBe(1);
  expect(a.session?.key).toBeDefined();
  expect(a.session?.key).not.toBe(firstKey);
  // b's session is untouched.
  expect(await b.invoke('CurrentTime', b.serviceInstance, {})).toBeInstanceOf(Date);
});

test('logout ends the session; later calls fail with NotAuthenticated instead of logging in again', async () => {
  const c = await connect();
  await c.logout();
  await expect(c.invoke('CurrentTime', c.serviceInstance, {})).rejects.toBeInstanceOf(NotAuthenticatedError);
});

test('a fault the type table does not know is UnknownFaultError, keeping the raw detail', async () => {
  const c = await connect();
  // vcsim answers a method the object does not have with MethodNotFound, a fault VCH never acts on.
  const err = await c.invoke('CurrentTime', c.serviceContent.rootFolder, {}).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(UnknownFaultError);
  expect(isFault(err, 'Unknown')).toBe(true);
  const fault = err as UnknownFaultError;
  expect(fault.faultName).toBe('MethodNotFound');
  expect(fault.fault).toMatchObject({ _type: 'MethodNotFound', method: 'CurrentTime' });
  expect(fault.detailXml).toMatch(/<MethodNotFoundFault[^>]*xsi:type="MethodNotFound"/);
  expect(fault.detailXml).toContain('<method>CurrentTime</method>');
  expect(fault.faultString).toContain('CurrentTime');
  // The session is unharmed.
  expect(await c.invoke('CurrentTime', c.serviceInstance, {})).toBeInstanceOf(Date);
});

test('a per-call AbortSignal cancels the call', async () => {
  const c = await connect();
  const ac = new AbortController();
  ac.abort(new Error('stop it'));
  await expect(c.invoke('CurrentTime', c.serviceInstance, {}, { signal: ac.signal })).rejects.toThrow('stop it');
  // The client is still usable.
  expect(await c.invoke('CurrentTime', c.serviceInstance, {})).toBeInstanceOf(Date);
});

test('transport.stream PUTs and GETs datastore files with the session', async () => {
  const c = await connect();
  const ds = sim.datastores[0];
  const query = { dcPath: ds.datacenter, dsName: ds.name };
  const content = 'hello\nworld\n'.repeat(1000);
  const put = await c.transport.stream({
    method: 'PUT',
    path: '/folder/vch-session-test.txt',
    query,
    body: Readable.from([Buffer.from(content)]),
    headers: { 'content-length': String(Buffer.byteLength(content)) },
  });
  await put.body.resume();
  expect(put.status).toBeGreaterThanOrEqual(200);
  expect(put.status).toBeLessThan(300);
  const get = await c.transport.stream({ method: 'GET', path: '/folder/vch-session-test.txt', query });
  expect(get.status).toBe(200);
  let text = '';
  get.body.setEncoding('utf8');
  for await (const chunk of get.body) text += chunk as string;
  expect(text).toBe(content);
});
