import { constants } from 'node:os';

const byName = constants.signals as Record<string, number>;

/** "TERM", "SIGTERM", "sigterm" or "15" → 15; undefined for anything else. */
export function parseSignal(text: string): number | undefined {
  const t = text.trim().toUpperCase();
  if (/^[0-9]+$/.test(t)) {
    const n = Number(t);
    return n > 0 && n < 65 ? n : undefined;
  }
  return byName[t.startsWith('SIG') ? t : `SIG${t}`];
}

export function signalName(signal: number): string | undefined {
  return Object.keys(byName).find((name) => byName[name] === signal);
}

/** Docker's exit code: the process's own, or 128 + n when signal n ended it. */
export function dockerExitCode(code: number | null, signal: NodeJS.Signals | number | null): number {
  if (signal !== null) {
    const n = typeof signal === 'number' ? signal : byName[signal];
    return 128 + (n ?? 0);
  }
  return code ?? 0;
}
