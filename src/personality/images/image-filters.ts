/**
 * Docker's filters for image listing and pruning, as predicates over the port layer's
 * `ImageSummary`. Reference patterns match the familiar form (`busybox:latest`) or the
 * familiar name (`busybox`), as dockerd's `reference.FamiliarMatch` does.
 */

import type { ImageSummary } from '../../portlayer/api';
import { type FilterArgs, globToRegExp, matchesLabels, parseTimestamp } from '../filters';

export const IMAGE_LIST_FILTERS = ['dangling', 'label', 'label!', 'before', 'since', 'reference', 'until'] as const;
export const IMAGE_PRUNE_FILTERS = ['dangling', 'label', 'label!', 'until'] as const;

/** `host:5000/a/b:tag` → `host:5000/a/b`; digests lose `@…`. */
export function referenceName(ref: string): string {
  const at = ref.indexOf('@');
  const noDigest = at < 0 ? ref : ref.slice(0, at);
  const colon = noDigest.lastIndexOf(':');
  return colon > noDigest.lastIndexOf('/') ? noDigest.slice(0, colon) : noDigest;
}

export function referenceMatches(patterns: readonly RegExp[], ref: string): boolean {
  const name = referenceName(ref);
  return patterns.some((p) => p.test(ref) || p.test(name));
}

export function isDangling(image: ImageSummary): boolean {
  return image.repoTags.length === 0;
}

/** Common to list and prune: dangling, label, label!, until. */
function basePredicate(filters: FilterArgs, now: Date): (image: ImageSummary) => boolean {
  const dangling = filters.getBool('dangling');
  const labels = filters.get('label');
  const notLabels = filters.get('label!');
  const until = filters.get('until').map((v) => parseTimestamp(v, now));
  return (image) => {
    if (dangling !== undefined && isDangling(image) !== dangling) return false;
    if (!matchesLabels(labels, image.labels)) return false;
    if (notLabels.length > 0 && notLabels.some((l) => matchesLabels([l], image.labels))) return false;
    if (until.some((t) => image.created.getTime() >= t.getTime())) return false;
    return true;
  };
}

export interface ListFilterContext {
  /** Resolves `before`/`since` references to creation times. */
  readonly createdOf: (ref: string) => Promise<Date>;
  readonly now?: Date;
}

/**
 * Applies list filters. With `reference`, an image's RepoTags/RepoDigests are narrowed to
 * the matching ones (as dockerd does), and images with none left are dropped.
 */
export async function filterImageList(
  images: readonly ImageSummary[],
  filters: FilterArgs,
  ctx: ListFilterContext,
): Promise<ImageSummary[]> {
  filters.validate(IMAGE_LIST_FILTERS);
  const base = basePredicate(filters, ctx.now ?? new Date());
  const before = await Promise.all(filters.get('before').map((r) => ctx.createdOf(r)));
  const since = await Promise.all(filters.get('since').map((r) => ctx.createdOf(r)));
  const patterns = filters.get('reference').map(globToRegExp);
  const out: ImageSummary[] = [];
  for (const image of images) {
    if (!base(image)) continue;
    const t = image.created.getTime();
    if (before.some((b) => t >= b.getTime())) continue;
    if (since.some((s) => t <= s.getTime())) continue;
    if (patterns.length === 0) {
      out.push(image);
      continue;
    }
    const repoTags = image.repoTags.filter((r) => referenceMatches(patterns, r));
    const repoDigests = image.repoDigests.filter((r) => referenceMatches(patterns, r));
    if (repoTags.length === 0 && repoDigests.length === 0) continue;
    out.push({ ...image, repoTags, repoDigests });
  }
  return out;
}

/**
 * Which images `docker image prune` may remove: dangling ones only, unless the client
 * sends `dangling=false` (`prune -a`), narrowed by label and until.
 */
export function prunePredicate(filters: FilterArgs, now: Date = new Date()): (image: ImageSummary) => boolean {
  filters.validate(IMAGE_PRUNE_FILTERS);
  const danglingOnly = filters.getBool('dangling') ?? true;
  const rest = basePredicate(filters.without('dangling'), now);
  return (image) => (!danglingOnly || isDangling(image)) && rest(image);
}
