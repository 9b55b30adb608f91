import {
  decodeRegistryAuthHeader,
  encodeRegistryAuthHeader,
  InvalidRegistryAuthError,
} from '../../src/portlayer/storage/registry/registry-auth-header';

const b64url = (s: string): string => Buffer.from(s).toString('base64url');

describe('decodeRegistryAuthHeader (X-Registry-Auth)', () => {
  test('what the CLI sends after docker login', () => {
    const header = b64url(JSON.stringify({ username: 'alice', password: 'p+/?=', serveraddress: 'host:5000' }));
    expect(decodeRegistryAuthHeader(header)).toEqual({
      username: 'alice',
      password: 'p+/?=',
      serverAddress: 'host:5000',
    });
  });

  test('anonymous: absent, empty, or {} (e30=)', () => {
    expect(decodeRegistryAuthHeader(undefined)).toBeUndefined();
    expect(decodeRegistryAuthHeader('')).toBeUndefined();
    expect(decodeRegistryAuthHeader('e30=')).toBeUndefined();
    expect(decodeRegistryAuthHeader(b64url('{"username":"","password":""}'))).toBeUndefined();
  });

  test('standard base64 and padding are accepted too', () => {
    const json = JSON.stringify({ username: 'bob', password: '>>>???' });
    expect(decodeRegistryAuthHeader(Buffer.from(json).toString('base64'))).toEqual({
      username: 'bob',
      password: '>>>???',
    });
  });

  test('the auth field (base64 user:password) and capitalised Go field names', () => {
    const auth = Buffer.from('carol:a:b').toString('base64');
    expect(decodeRegistryAuthHeader(b64url(JSON.stringify({ auth })))).toEqual({ username: 'carol', password: 'a:b' });
    expect(decodeRegistryAuthHeader(b64url(JSON.stringify({ Username: 'dave', Password: 'x' })))).toEqual({
      username: 'dave',
      password: 'x',
    });
  });

  test('tokens', () => {
    expect(decodeRegistryAuthHeader(b64url(JSON.stringify({ registrytoken: 'tok', identitytoken: 'id' })))).toEqual({
      registryToken: 'tok',
      identityToken: 'id',
    });
  });

  test('garbage is an error', () => {
    expect(() => decodeRegistryAuthHeader('!!!')).toThrow(InvalidRegistryAuthError);
    expect(() => decodeRegistryAuthHeader(b64url('not json'))).toThrow(/not JSON/);
    expect(() => decodeRegistryAuthHeader(b64url('[1]'))).toThrow(/not a JSON object/);
  });

  test('round-trips through the encoder', () => {
    const creds = { username: 'eve', password: 'secret', serverAddress: 'r:5000' };
    expect(decodeRegistryAuthHeader(encodeRegistryAuthHeader(creds))).toEqual(creds);
  });
});
