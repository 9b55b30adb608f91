/** Signals as `docker kill -s` and StopSignal give them: `KILL`, `SIGKILL`, `9`. */

import os from 'node:os';
import { InvalidParameterError } from '../../portlayer/api';

const BY_NUMBER = new Map<number, string>(Object.entries(os.constants.signals).map(([name, n]) => [n, name]));

/** Canonical `SIGxxx` name, or a 400 with dockerd's text (`Invalid signal: X`). */
export function parseSignal(input: string): string {
  const s = input.trim();
  if (/^[0-9]+$/.test(s)) {
    const name = BY_NUMBER.get(Number.parseInt(s, 10));
    if (name === undefined) throw new InvalidParameterError(`Invalid signal: ${input}`);
    return name;
  }
  const upper = s.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  if (!Object.hasOwn(os.constants.signals, name)) throw new InvalidParameterError(`Invalid signal: ${input}`);
  return name;
}

/** The number of a canonical name (`SIGTERM` → 15), for exit codes 128+n. */
export function signalNumber(name: string): number {
  return (os.constants.signals as Readonly<Record<string, number>>)[name] ?? 0;
}
