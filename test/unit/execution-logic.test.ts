/**
 * Pure parts of the execution room: names and lookup, config merge, status → state, and the
 * container cache fed by hand-made property-collector updates.
 */
import { ConflictError, InvalidParameterError, NotFoundError } from '../../src/portlayer/api';
import { mergeConfig, mergeEnv, processOf } from '../../src/portlayer/execution/config';
import { freeUnits } from '../../src/portlayer/execution/disks';
import { nameConflict, normalizeName, resolveContainer, vmName } from '../../src/portlayer/execution/names';
import { KEY_ID, KEY_STATUS, parseVmStatus } from '../../src/portlayer/execution/spec';
import { ContainerCache, deriveState } from '../../src/portlayer/execution/state';
import type { PropertyUpdate, UpdatesLoop } from '../../src/vsphere/updates';
import type { ManagedObjectReference, VimAny } from '../../src/vsphere/vim25/values';

const A = 'a'.repeat(64);
const B = `ab${'c'.repeat(62)}`;

describe('names', () => {
  it('resolves full id, then name, then unique prefix', () => {
    const all = [
      { id: A, name: 'web' },
      { id: B, name: 'db' },
    ];
    expect(resolveContainer(all, B).name).toBe('db');
    expect(resolveContainer(all, '/web').id).toBe(A);
    expect(resolveContainer(all, 'abc').id).toBe(B);
    expect(() => resolveContainer(all, 'a')).toThrow(InvalidParameterError);
    expect(() => resolveContainer(all, 'nope')).toThrow(new NotFoundError('container', 'nope'));
    expect(() => resolveContainer(all, 'nope')).toThrow('No such container: nope');
  });
  it("checks names with Docker's rule and text", () => {
    expect(normalizeName('/x1')).toBe('x1');
    expect(() => normalizeName('-bad')).toThrow('Invalid container name (-bad)');
    const e = nameConflict('x', A);
    expect(e).toBeInstanceOf(ConflictError);
    expect(e.message).toBe(
      `Conflict. The container name "/x" is already in use by container "${A}". You have to remove (or rename) that container to be able to reuse that name.`,
    );
    expect(vmName('web', A)).toBe('web-aaaaaaaaaaaa');
  });
});

describe('config merge', () => {
  const image = { cmd: ['sh'], env: ['PATH=/bin', 'A=1'], workingDir: '/w', user: 'nobody' };
  it('cmd replaces the image cmd; entrypoint drops it', () => {
    expect(mergeConfig({ image: 'b', cmd: ['echo', 'x'] }, image, 'sha256:1', A).cmd).toEqual(['echo', 'x']);
    const c = mergeConfig({ image: 'b', entrypoint: ['/e'] }, image, 'sha256:1', A);
    expect([c.entrypoint, c.cmd]).toEqual([['/e'], []]);
    expect(() => mergeConfig({ image: 'b' }, {}, 'sha256:1', A)).toThrow('No command specified');
  });
  it('env merges by key; process carries cwd, user, tty', () => {
    expect(mergeEnv(['PATH=/bin', 'A=1'], ['A=2', 'B=3'])).toEqual(['PATH=/bin', 'A=2', 'B=3']);
    const p = processOf(mergeConfig({ image: 'b', tty: true }, image, 'sha256:1', A));
    expect(p).toEqual({ argv: ['sh'], env: ['PATH=/bin', 'A=1'], user: 'nobody', cwd: '/w', tty: true });
  });
});

describe('state', () => {
  it('derives Docker state from status and power', () => {
    expect(deriveState(parseVmStatus('{"state":"created"}'), 'poweredOn').status).toBe('created');
    expect(deriveState(parseVmStatus('{"state":"running","pid":7}'), 'poweredOn')).toMatchObject({
      status: 'running',
      pid: 7,
    });
    expect(deriveState(parseVmStatus('{"state":"running"}'), 'poweredOff')).toMatchObject({
      status: 'exited',
      exitCode: 137,
    });
    const exited = deriveState(
      parseVmStatus('{"state":"exited","exitCode":127,"error":"exec: \\"x\\": executable file not found in $PATH"}'),
      'poweredOff',
    );
    expect(exited).toMatchObject({ status: 'exited', exitCode: 127 });
    expect(exited.error).toContain('executable file not found');
    expect(parseVmStatus('{"state":"exited"}')).toBeUndefined();
    expect(parseVmStatus('garbage')).toBeUndefined();
  });
  it('picks disk units around the controller unit', () => {
    expect(freeUnits([], 1000, 9)).toEqual([0, 1, 2, 3, 4, 5, 6, 8, 9]);
  });
});

describe('the container cache, between a start and the status that records it', () => {
  type Watch = (u: PropertyUpdate) => void;
  const vm: ManagedObjectReference = { type: 'VirtualMachine', value: 'vm-7' };
  const values = (status: string | undefined, power = 'poweredOn') => ({
    name: 'web-aaaaaaaaaaaa',
    'runtime.powerState': power,
    'config.extraConfig': [
      { key: KEY_ID, value: A },
      ...(status ? [{ key: KEY_STATUS, value: status }] : []),
    ] as unknown as VimAny,
  });
  async function cacheWith(status: string | undefined): Promise<{ cache: ContainerCache; push: Watch }> {
    let push: Watch = () => {};
    const updates = {
      watchView: async (_folder: unknown, _type: string, _paths: unknown, cb: Watch) => {
        push = cb;
        cb({ obj: vm, kind: 'enter', changes: {}, values: values(status) });
        return async () => {};
      },
    } as unknown as UpdatesLoop;
    const cache = await ContainerCache.open(updates, { type: 'Folder', value: 'group-v1' });
    return { cache, push: (u) => push(u) };
  }

  it('shows a run the tether answered as running until the VM status moves on, then follows the status', async () => {
    const { cache, push } = await cacheWith('{"state":"created"}');
    cache.noteRunning(A, 132);
    expect(cache.byId(A)?.state).toMatchObject({ status: 'running', running: true, pid: 132 });
    // An update that still carries the old status (another key changed) keeps what we saw.
    push({ obj: vm, kind: 'modify', changes: {}, values: values('{"state":"created"}') });
    expect(cache.byId(A)?.state.running).toBe(true);
    // The status has caught up, then the process exits: the VM's status rules again.
    push({ obj: vm, kind: 'modify', changes: {}, values: values('{"state":"exited","exitCode":3}') });
    expect(cache.byId(A)?.state).toMatchObject({ status: 'exited', exitCode: 3 });
    push({ obj: vm, kind: 'modify', changes: {}, values: values('{"state":"created"}') });
    expect(cache.byId(A)?.state.status).toBe('created'); // a cold boot's reset, not the old sighting
  });

  it('ignores a sighting older than the status it has, and a VM powered off under it is a kill', async () => {
    const { cache, push } = await cacheWith('{"state":"exited","exitCode":0}');
    cache.noteRunning(A, 132);
    expect(cache.byId(A)?.state.status).toBe('exited');

    const fresh = await cacheWith(undefined);
    fresh.cache.noteRunning(A, 9);
    fresh.push({ obj: vm, kind: 'modify', changes: {}, values: values(undefined, 'poweredOff') });
    expect(fresh.cache.byId(A)?.state).toMatchObject({ status: 'exited', exitCode: 137 });
    push({ obj: vm, kind: 'modify', changes: {}, values: values('{"state":"exited","exitCode":0}') });
    expect(cache.byId(A)?.state.exitCode).toBe(0);
  });
});
