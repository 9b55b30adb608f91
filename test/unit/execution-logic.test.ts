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
    // The run's start stays after its end (Docker's State.StartedAt; the restart back-off's run length).
    expect(
      deriveState(
        parseVmStatus(
          '{"state":"exited","exitCode":1,"startedAt":"2026-11-22T10:00:00.000Z","finishedAt":"2026-11-22T10:00:12.500Z"}',
        ),
        'poweredOff',
      ),
    ).toMatchObject({ startedAt: new Date('2026-11-22T10:00:00Z'), finishedAt: new Date('2026-11-22T10:00:12.5Z') });
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

  const modify = (status: string | undefined, power = 'poweredOn'): PropertyUpdate => ({
    obj: vm,
    kind: 'modify',
    changes: {},
    values: values(status, power),
  });

  it('shows a run the tether answered as running while the status says created, then follows the status', async () => {
    const { cache, push } = await cacheWith('{"state":"created"}');
    cache.noteRunning(A, 132);
    expect(cache.byId(A)?.state).toMatchObject({ status: 'running', running: true, pid: 132 });
    // An update that still carries `created` (another key changed) keeps what we saw.
    push(modify('{"state":"created"}'));
    expect(cache.byId(A)?.state.running).toBe(true);
    // The tether's own status arrives: its pid and time from now on.
    push(modify('{"state":"running","pid":7,"startedAt":"2026-11-22T10:00:00.000Z"}'));
    expect(cache.byId(A)?.state).toMatchObject({
      status: 'running',
      pid: 7,
      startedAt: new Date('2026-11-22T10:00:00Z'),
    });
    push(modify('{"state":"exited","exitCode":3}'));
    expect(cache.byId(A)?.state).toMatchObject({ status: 'exited', exitCode: 3 });
    // The next run's `created` is not the old sighting.
    push(modify('{"state":"created"}'));
    expect(cache.byId(A)?.state.status).toBe('created');
  });

  it('a VM powered off under a sighting is a kill, and its cold boot starts clean', async () => {
    const { cache, push } = await cacheWith('{"state":"created"}');
    cache.noteRunning(A, 132);
    push(modify('{"state":"created"}', 'poweredOff'));
    expect(cache.byId(A)?.state).toMatchObject({ status: 'exited', exitCode: 137 });
    // The cold boot clears the status, the VM powers on, the new tether reports created.
    push(modify(undefined, 'poweredOff'));
    push(modify(undefined));
    push(modify('{"state":"created"}'));
    expect(cache.byId(A)?.state).toMatchObject({ status: 'created', running: false });
  });

  it('ignores a sighting when the status is past created or has none, and forgets it with the VM', async () => {
    const exited = await cacheWith('{"state":"exited","exitCode":0}');
    exited.cache.noteRunning(A, 132);
    expect(exited.cache.byId(A)?.state).toMatchObject({ status: 'exited', exitCode: 0 });

    const reset = await cacheWith(undefined);
    reset.cache.noteRunning(A, 9);
    expect(reset.cache.byId(A)?.state.status).toBe('created');

    const gone = await cacheWith('{"state":"created"}');
    gone.cache.noteRunning(A, 5);
    gone.push({ obj: vm, kind: 'leave', changes: {}, values: {} });
    expect(gone.cache.byId(A)).toBeUndefined();
    gone.push({ obj: vm, kind: 'enter', changes: {}, values: values('{"state":"created"}') });
    expect(gone.cache.byId(A)?.state.status).toBe('created');
  });
});
