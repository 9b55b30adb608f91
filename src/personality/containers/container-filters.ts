/**
 * `GET /containers/json` selection: `all`, `limit` and the filters dockerd's `ps` knows.
 * Applied here over `ContainerService.list({all: true})`, as the image filters are, so every
 * service gets the same semantics.
 */

import { type ContainerSummary, InvalidParameterError } from '../../portlayer/api';
import { type FilterArgs, matchesLabels } from '../filters';

export const PS_FILTERS = [
  'id',
  'name',
  'label',
  'status',
  'ancestor',
  'exited',
  'before',
  'since',
  'health',
  'volume',
  'network',
  'publish',
  'expose',
  'isolation',
  'is-task',
] as const;

const STATUSES: ReadonlySet<string> = new Set([
  'created',
  'restarting',
  'running',
  'removing',
  'paused',
  'exited',
  'dead',
]);

export interface PsOptions {
  readonly all: boolean;
  /** > 0: the newest `limit` containers, running or not (dockerd implies all). */
  readonly limit: number;
  readonly filters: FilterArgs;
}

/** `busybox` matches `busybox:latest`; ids match by (sha256-less) prefix. */
function ancestorMatches(c: ContainerSummary, wanted: string): boolean {
  const withTag = (s: string) => (/:[^/]+$/.test(s) || s.includes('@') ? s : `${s}:latest`);
  if (withTag(c.image) === withTag(wanted)) return true;
  const hex = wanted.replace(/^sha256:/, '');
  return /^[a-f0-9]{4,}$/.test(hex) && c.imageId.replace(/^sha256:/, '').startsWith(hex);
}

/** Newest first; throws 400 for unknown keys and malformed values. */
export function selectContainers(all: readonly ContainerSummary[], o: PsOptions): ContainerSummary[] {
  const f = o.filters;
  f.validate(PS_FILTERS);
  for (const s of f.get('status')) {
    if (!STATUSES.has(s)) throw new InvalidParameterError(`invalid filter 'status=${s}'`);
  }
  const exited = f.get('exited').map((e) => {
    if (!/^-?[0-9]+$/.test(e)) throw new InvalidParameterError(`invalid filter 'exited=${e}'`);
    return Number.parseInt(e, 10);
  });
  const names = f.get('name').map((n) => {
    try {
      return new RegExp(n);
    } catch {
      throw new InvalidParameterError(`invalid filter 'name=${n}'`);
    }
  });
  const sorted = [...all].sort((a, b) => b.created.getTime() - a.created.getTime());
  const pivot = (key: 'before' | 'since'): number | undefined => {
    const refs = f.get(key);
    if (refs.length === 0) return undefined;
    const c = sorted.find(
      (x) => x.id.startsWith(refs[0]!) || x.name.replace(/^\//, '') === refs[0]!.replace(/^\//, ''),
    );
    if (c === undefined) throw new InvalidParameterError(`No such container: ${refs[0]}`);
    return c.created.getTime();
  };
  const before = pivot('before');
  const since = pivot('since');
  // A status or exited filter asks about stopped containers: dockerd then lists them without -a.
  const includeStopped = o.all || o.limit > 0 || f.has('status') || f.has('exited');
  const out = sorted.filter((c) => {
    if (!includeStopped && !c.state.running) return false;
    const ids = f.get('id');
    if (ids.length > 0 && !ids.some((id) => c.id.startsWith(id))) return false;
    const bare = c.name.replace(/^\//, '');
    if (names.length > 0 && !names.some((re) => re.test(bare) || re.test(`/${bare}`))) return false;
    if (!matchesLabels(f.get('label'), c.labels)) return false;
    const statuses = f.get('status');
    if (statuses.length > 0 && !statuses.includes(c.state.status)) return false;
    if (exited.length > 0 && (c.state.status !== 'exited' || !exited.includes(c.state.exitCode))) return false;
    const ancestors = f.get('ancestor');
    if (ancestors.length > 0 && !ancestors.some((a) => ancestorMatches(c, a))) return false;
    if (before !== undefined && c.created.getTime() >= before) return false;
    if (since !== undefined && c.created.getTime() <= since) return false;
    return true;
  });
  return o.limit > 0 ? out.slice(0, o.limit) : out;
}
