/** Docker's detach keys: their notation, and the stdin filter that watches for them. */

import { DEFAULT_DETACH_KEYS, DetachSequence, parseDetachKeys } from '../../src/personality/containers/detach-keys';
import { InvalidParameterError } from '../../src/portlayer/api';

describe('parseDetachKeys', () => {
  it.each([
    [DEFAULT_DETACH_KEYS, [16, 17]],
    ['ctrl-x,x', [24, 120]],
    ['CTRL-A,ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_', [1, 0, 27, 28, 29, 30, 31]],
    ['a,b,c', [97, 98, 99]],
  ])('reads %s', (spec, bytes) => {
    expect([...parseDetachKeys(spec)]).toEqual(bytes);
  });

  it.each(['', 'ctrl-', 'ctrl-1', 'ab', 'ctrl-p,,ctrl-q', 'alt-x'])('refuses %j in Docker’s words', (spec) => {
    expect(() => parseDetachKeys(spec)).toThrow(InvalidParameterError);
    expect(() => parseDetachKeys(spec)).toThrow(`Invalid detach keys (${spec}) provided`);
  });
});

/** Feeds the chunks; resolves with what came through, whether it detached and whether it ended. */
async function through(keys: string, chunks: string[]): Promise<{ out: string; detached: boolean; ended: boolean }> {
  const seq = new DetachSequence(parseDetachKeys(keys));
  let out = '';
  let detached = false;
  let ended = false;
  seq.on('data', (c: Buffer) => {
    out += c.toString('latin1');
  });
  seq.on('end', () => {
    ended = true;
  });
  seq.on('detach', () => {
    detached = true;
  });
  for (const c of chunks) seq.write(Buffer.from(c, 'latin1'));
  seq.end();
  await new Promise((r) => setImmediate(r));
  return { out, detached, ended };
}

describe('DetachSequence', () => {
  it('passes input through and ends with it when the keys never come', async () => {
    expect(await through(DEFAULT_DETACH_KEYS, ['echo hi\r', 'ls\r'])).toEqual({
      out: 'echo hi\rls\r',
      detached: false,
      ended: true,
    });
  });

  it('detaches on the keys, even split across chunks, and passes on neither them nor what follows nor the end', async () => {
    expect(await through(DEFAULT_DETACH_KEYS, ['abc\x10', '\x11more'])).toEqual({
      out: 'abc',
      detached: true,
      ended: false,
    });
  });

  it('passes on a sequence that breaks off, as typed, and still sees one that starts within it', async () => {
    expect(await through(DEFAULT_DETACH_KEYS, ['\x10x', '\x10\x10\x11'])).toEqual({
      out: '\x10x\x10',
      detached: true,
      ended: false,
    });
    expect(await through('ctrl-x,x', ['\x18y\x18', 'z'])).toMatchObject({ out: '\x18y\x18z', detached: false });
    // A prefix still held when input ends is input after all.
    expect(await through(DEFAULT_DETACH_KEYS, ['q\x10'])).toEqual({ out: 'q\x10', detached: false, ended: true });
  });
});
