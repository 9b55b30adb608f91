/**
 * `/images/...`: pull, list, inspect, history, tag, remove, prune. Image names may contain
 * slashes and a registry's `host:port` (`/images/127.0.0.1:5000/foo/bar:1/json`), so the
 * per-image routes are regular expressions that take everything between `/images/` and
 * the action, as dockerd's `{name:.*}` does; the fixed routes come first so `json` and
 * `prune` are not read as image names.
 */

import { type Request, type Response, Router } from 'express';
import type { ImageService, PullProgressEvent } from '../../portlayer/api';
import { InvalidParameterError, NotImplementedError } from '../../portlayer/api';
import {
  formatReference,
  type ImageReference,
  InvalidReferenceError,
  parseReference,
} from '../../portlayer/storage/registry/reference';
import {
  decodeRegistryAuthHeader,
  InvalidRegistryAuthError,
} from '../../portlayer/storage/registry/registry-auth-header';
import { toHttpFailure } from '../errors';
import { parseFilters } from '../filters';
import {
  toDockerDeleteItems,
  toDockerHistory,
  toDockerImageInspect,
  toDockerImageSummary,
} from '../images/docker-shapes';
import { filterImageList, prunePredicate } from '../images/image-filters';
import { sendEmpty, sendJson } from '../json-response';
import { type JsonMessage, JsonProgressStream, progressMessage, statusMessage } from '../progress';
import { pathParam, queryBool, queryString } from '../request-params';

/** Parses a reference, turning the registry module's error into a 400. */
export function parseImageReference(input: string): ImageReference {
  try {
    return parseReference(input);
  } catch (err) {
    if (err instanceof InvalidReferenceError) throw new InvalidParameterError(err.message);
    throw err;
  }
}

const DIGEST_LIKE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;

/**
 * What `POST /images/create` pulls: `fromImage` with `tag` applied as dockerd does — a
 * digest-shaped tag pins the digest, anything else replaces the tag. Returns the canonical
 * reference (`docker.io/library/busybox:latest`).
 */
export function pullReference(fromImage: string, tag: string | undefined): string {
  const ref = parseImageReference(fromImage);
  if (tag === undefined || tag === '') return formatReference(ref);
  const base = { domain: ref.domain, path: ref.path };
  const pinned = DIGEST_LIKE.test(tag)
    ? { ...base, digest: tag }
    : parseImageReference(`${ref.domain}/${ref.path}:${tag}`);
  return formatReference(pinned);
}

/** One port-layer progress event as the JSON message dockerd would send. */
export function renderPullEvent(event: PullProgressEvent): JsonMessage {
  switch (event.type) {
    case 'pulling-from':
      return statusMessage(`Pulling from ${event.repository}`, event.tag);
    case 'layer':
      return progressMessage(event.layer, event.status, event.current, event.total);
    case 'digest':
      return statusMessage(`Digest: ${event.digest}`);
    case 'status':
      return statusMessage(
        `Status: ${event.upToDate ? 'Image is up to date for' : 'Downloaded newer image for'} ${event.reference}`,
      );
  }
}

function registryAuth(req: Request) {
  try {
    return decodeRegistryAuthHeader(req.get('X-Registry-Auth'));
  } catch (err) {
    if (err instanceof InvalidRegistryAuthError) throw new InvalidParameterError(err.message);
    throw err;
  }
}

async function pull(images: ImageService, req: Request, res: Response): Promise<void> {
  if (queryString(req, 'fromSrc') !== undefined) {
    throw new NotImplementedError('importing images (docker import) is not supported by this VCH');
  }
  const fromImage = queryString(req, 'fromImage');
  if (fromImage === undefined || fromImage === '') throw new InvalidParameterError('fromImage is required');
  const ref = pullReference(fromImage, queryString(req, 'tag'));
  const auth = registryAuth(req);
  const platform = queryString(req, 'platform');

  // The client hanging up aborts the pull; a finished response is not a hang-up.
  const abort = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  const stream = new JsonProgressStream(res);
  try {
    await images.pull(ref, {
      ...(auth !== undefined ? { auth } : {}),
      ...(platform !== undefined && platform !== '' ? { platform } : {}),
      signal: abort.signal,
      onProgress: (event) => stream.write(renderPullEvent(event)),
    });
  } catch (err) {
    // Before any progress the failure is still a proper HTTP error, as with dockerd.
    if (!stream.started) throw err;
    stream.fail(toHttpFailure(err).message);
  }
  stream.end();
}

export function imageRoutes(images: ImageService): Router {
  const router = Router();

  router.post('/images/create', (req, res) => pull(images, req, res));

  router.get('/images/json', async (req, res) => {
    const filters = parseFilters(queryString(req, 'filters'));
    const all = await images.list();
    const selected = await filterImageList(all, filters, {
      createdOf: async (ref) => (await images.inspect(ref)).created,
    });
    // Newest first, as `docker images` lists them.
    selected.sort((a, b) => b.created.getTime() - a.created.getTime());
    sendJson(
      res,
      200,
      selected.map((i) => toDockerImageSummary(i, res.locals.apiVersion)),
    );
  });

  router.post('/images/prune', async (req, res) => {
    const select = prunePredicate(parseFilters(queryString(req, 'filters')));
    const result = await images.prune({ select });
    sendJson(res, 200, {
      ImagesDeleted: result.deleted.length === 0 ? null : toDockerDeleteItems(result.deleted),
      SpaceReclaimed: result.spaceReclaimed,
    });
  });

  router.get('/images/search', () => {
    throw new NotImplementedError('searching registries is not supported by this VCH');
  });

  router.get(/^\/images\/(.+)\/json$/, async (req, res) => {
    const image = await images.inspect(pathParam(req, 0));
    sendJson(res, 200, toDockerImageInspect(image, res.locals.apiVersion));
  });

  router.get(/^\/images\/(.+)\/history$/, async (req, res) => {
    sendJson(res, 200, toDockerHistory(await images.history(pathParam(req, 0))));
  });

  router.post(/^\/images\/(.+)\/tag$/, async (req, res) => {
    const repo = queryString(req, 'repo') ?? '';
    const tag = queryString(req, 'tag') ?? '';
    if (repo === '') throw new InvalidParameterError('repository name must have at least one component');
    const target = parseImageReference(repo);
    if (target.digest !== undefined)
      throw new InvalidParameterError('refusing to create a tag with a digest reference');
    if (tag !== '' && DIGEST_LIKE.test(tag)) {
      throw new InvalidParameterError('refusing to create a tag with a digest reference');
    }
    const tagged = tag === '' ? target : parseImageReference(`${target.domain}/${target.path}:${tag}`);
    await images.tag(pathParam(req, 0), formatReference(tagged));
    sendEmpty(res, 201);
  });

  router.post(/^\/images\/(.+)\/push$/, () => {
    throw new NotImplementedError('pushing images is not supported by this VCH yet');
  });

  router.delete(/^\/images\/(.+)$/, async (req, res) => {
    const deleted = await images.remove(pathParam(req, 0), {
      force: queryBool(req, 'force'),
      noprune: queryBool(req, 'noprune'),
    });
    sendJson(res, 200, toDockerDeleteItems(deleted));
  });

  return router;
}
