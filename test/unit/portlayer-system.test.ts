/** Pure pieces of the VCH's start-up and system info: addresses, versions, capacity, login. */
import { parseListenAddress } from '../../bin/commands/daemon';
import { parseAuthConfig } from '../../src/personality/routes/auth';
import { InvalidParameterError } from '../../src/portlayer/api';
import { apiVersionAtLeast } from '../../src/portlayer/system/instant-clone';
import { loginDomain } from '../../src/portlayer/system/registry-login';
import { poolCapacity, vchId } from '../../src/portlayer/system/system-service';

test('apiVersionAtLeast compares dotted versions numerically', () => {
  expect(apiVersionAtLeast('6.7', [6, 7])).toBe(true);
  expect(apiVersionAtLeast('6.7.3', [6, 7])).toBe(true);
  expect(apiVersionAtLeast('8.0.2.0', [6, 7])).toBe(true);
  expect(apiVersionAtLeast('6.5', [6, 7])).toBe(false);
  expect(apiVersionAtLeast('6.10', [6, 7])).toBe(true);
});

test('poolCapacity: the compute resource, unless the pool has limits', () => {
  const summary = {
    totalCpu: 8000,
    totalMemory: 16 * 2 ** 30,
    numCpuCores: 4,
    numCpuThreads: 8,
    effectiveCpu: 8000,
    effectiveMemory: 16 * 1024,
    numHosts: 1,
    numEffectiveHosts: 1,
    overallStatus: 'green' as const,
  };
  expect(poolCapacity(undefined, summary)).toEqual({ cpus: 4, memoryBytes: 16 * 2 ** 30 });
  const unlimited = { cpuAllocation: { limit: -1 }, memoryAllocation: { limit: -1 } };
  expect(poolCapacity(unlimited, summary)).toEqual({ cpus: 4, memoryBytes: 16 * 2 ** 30 });
  const limited = { cpuAllocation: { limit: 4000 }, memoryAllocation: { limit: 2048 } };
  expect(poolCapacity(limited, summary)).toEqual({ cpus: 2, memoryBytes: 2 * 2 ** 30 });
  expect(poolCapacity(undefined, undefined)).toEqual({ cpus: 0, memoryBytes: 0 });
});

test('vchId is stable and shaped like dockerd IDs', () => {
  const id = vchId('https://vc/sdk', '/DC0', 'vch');
  expect(id).toBe(vchId('https://vc/sdk', '/DC0', 'vch'));
  expect(id).not.toBe(vchId('https://vc/sdk', '/DC0', 'other'));
  expect(id).toMatch(/^([0-9A-F]{4}:){11}[0-9A-F]{4}$/);
});

test('loginDomain: what docker login names, as a registry domain', () => {
  expect(loginDomain(undefined)).toBe('docker.io');
  expect(loginDomain('https://index.docker.io/v1/')).toBe('docker.io');
  expect(loginDomain('registry-1.docker.io')).toBe('docker.io');
  expect(loginDomain('127.0.0.1:5000')).toBe('127.0.0.1:5000');
  expect(loginDomain('http://Registry.Example:443/v2/')).toBe('registry.example:443');
});

test('parseAuthConfig reads Docker AuthConfig bodies, any key case', () => {
  expect(parseAuthConfig({ username: 'u', password: 'p', serveraddress: 'r:5000', email: '' })).toEqual({
    username: 'u',
    password: 'p',
    serverAddress: 'r:5000',
  });
  expect(parseAuthConfig({ Username: 'u', IdentityToken: 't' })).toEqual({ username: 'u', identityToken: 't' });
  expect(() => parseAuthConfig([])).toThrow(InvalidParameterError);
});

test('parseListenAddress', () => {
  expect(parseListenAddress('127.0.0.1:2375')).toEqual({ host: '127.0.0.1', port: 2375 });
  expect(parseListenAddress('[::1]:2376')).toEqual({ host: '::1', port: 2376 });
  expect(parseListenAddress(':0')).toEqual({ host: '127.0.0.1', port: 0 });
  expect(() => parseListenAddress('nope')).toThrow(/host:port/);
});
