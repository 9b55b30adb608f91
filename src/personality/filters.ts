/**
 * Docker's `filters` query parameter, parsed as dockerd's `filters.FromJSON` does: the
 * current form is a map of value sets (`{"label":{"a=b":true}}`); the legacy form, still
 * sent by old clients and docker-py, is a map of arrays (`{"label":["a=b"]}`). Values in the
 * map-of-bools form count only when true.
 */

import { InvalidParameterError } from '../portlayer/api';

export class FilterArgs {
  private readonly fields: ReadonlyMap<string, ReadonlySet<string>>;

  constructor(fields: ReadonlyMap<string, ReadonlySet<string>> = new Map()) {
    this.fields = fields;
  }

  keys(): string[] {
    return [...this.fields.keys()];
  }

  has(key: string): boolean {
    return this.fields.has(key);
  }

  /** Values of one key, in no particular order (Docker's are a set). */
  get(key: string): string[] {
    return [...(this.fields.get(key) ?? [])];
  }

  /** A copy without one key. */
  without(key: string): FilterArgs {
    return new FilterArgs(new Map([...this.fields].filter(([k]) => k !== key)));
  }

  /** Rejects keys a route does not know, with dockerd's message. */
  validate(accepted: readonly string[]): void {
    for (const key of this.fields.keys()) {
      if (!accepted.includes(key)) throw new InvalidParameterError(`invalid filter '${key}'`);
    }
  }

  /**
   * A boolean filter such as `dangling`: undefined when absent; throws unless every value
   * is `true`/`1` or `false`/`0` and they agree.
   */
  getBool(key: string): boolean | undefined {
    const values = this.get(key);
    if (values.length === 0) return undefined;
    const parsed = new Set<boolean>();
    for (const v of values) {
      const lower = v.toLowerCase();
      if (lower === 'true' || lower === '1') parsed.add(true);
      else if (lower === 'false' || lower === '0') parsed.add(false);
      else throw new InvalidParameterError(`invalid filter '${key}=${v}'`);
    }
    if (parsed.size > 1) throw new InvalidParameterError(`invalid filter '${key}': conflicting values`);
    return parsed.has(true);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses the `filters` query value; an absent or empty value is no filter at all. */
export function parseFilters(raw: string | undefined): FilterArgs {
  if (raw === undefined || raw.trim() === '') return new FilterArgs();
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new InvalidParameterError(`invalid filter: filters must be a JSON object: ${raw}`);
  }
  if (!isRecord(parsed)) throw new InvalidParameterError(`invalid filter: filters must be a JSON object: ${raw}`);
  const fields = new Map<string, Set<string>>();
  for (const [key, value] of Object.entries(parsed)) {
    const values = new Set<string>();
    if (Array.isArray(value)) {
      // Legacy form.
      for (const v of value) {
        if (typeof v !== 'string') throw new InvalidParameterError(`invalid filter '${key}': values must be strings`);
        values.add(v);
      }
    } else if (isRecord(value)) {
      for (const [v, on] of Object.entries(value)) {
        if (typeof on !== 'boolean')
          throw new InvalidParameterError(`invalid filter '${key}': values must be booleans`);
        if (on) values.add(v);
      }
    } else {
      throw new InvalidParameterError(`invalid filter '${key}'`);
    }
    fields.set(key, values);
  }
  return new FilterArgs(fields);
}

/**
 * Matches `label` filter values against labels: `key` needs the key, `key=value` the exact
 * value. All values must match (compose relies on labels being ANDed).
 */
export function matchesLabels(filters: readonly string[], labels: Readonly<Record<string, string>>): boolean {
  return filters.every((f) => {
    const eq = f.indexOf('=');
    if (eq < 0) return Object.hasOwn(labels, f);
    const key = f.slice(0, eq);
    return Object.hasOwn(labels, key) && labels[key] === f.slice(eq + 1);
  });
}

/**
 * Go's `path.Match` as a RegExp: `*` and `?` stop at `/`, `[...]` classes pass through,
 * `\` escapes. Docker matches image references with it.
 */
export function globToRegExp(pattern: string): RegExp {
  let out = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '\\' && i + 1 < pattern.length) out += `\\${pattern[++i]}`;
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) throw new InvalidParameterError(`invalid filter: bad pattern ${JSON.stringify(pattern)}`);
      let cls = pattern.slice(i + 1, end).replace(/\\/g, '\\\\');
      if (cls.startsWith('^')) cls = `^${cls.slice(1)}`;
      out += `[${cls}]`;
      i = end;
    } else out += c.replace(/[.+^${}()|\]\\/]/g, '\\$&');
  }
  return new RegExp(`${out}$`);
}

const DURATION_UNITS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * A point in time as Docker's `until`/`since` filters give it: a Go duration before now
 * (`24h`, `1h30m`), Unix seconds (`1700000000` or with fraction), or an RFC 3339 date.
 */
export function parseTimestamp(value: string, now: Date = new Date()): Date {
  if (/^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/.test(value)) {
    let ms = 0;
    for (const m of value.matchAll(/([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/g)) {
      ms += Number.parseFloat(m[1]!) * DURATION_UNITS[m[2]!]!;
    }
    return new Date(now.getTime() - ms);
  }
  if (/^[0-9]+(\.[0-9]+)?$/.test(value)) return new Date(Number.parseFloat(value) * 1000);
  const date = new Date(value);
  if (Number.isNaN(date.getTime()))
    throw new InvalidParameterError(`invalid filter: cannot parse time ${JSON.stringify(value)}`);
  return date;
}
