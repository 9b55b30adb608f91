/**
 * The container's effective configuration: the create request merged with the image's
 * config by Docker's rules, and the process the tether runs from it. Pure.
 */

import type { ProcessSpec } from '../../tether/protocol/messages';
import { type ContainerConfig, type ContainerCreateSpec, type ImageRunConfig, InvalidParameterError } from '../api';

function nonEmpty(list: readonly string[] | undefined): list is readonly string[] {
  return list !== undefined && list.length > 0;
}

/** Image env first, then the request's, a key given later replacing the earlier one in place. */
export function mergeEnv(image: readonly string[], request: readonly string[]): string[] {
  const out: string[] = [];
  const at = new Map<string, number>();
  for (const entry of [...image, ...request]) {
    const key = entry.split('=', 1)[0]!;
    const i = at.get(key);
    if (i === undefined) {
      at.set(key, out.length);
      out.push(entry);
    } else out[i] = entry;
  }
  return out;
}

export function mergeConfig(
  spec: ContainerCreateSpec,
  image: ImageRunConfig,
  imageId: string,
  id: string,
): ContainerConfig {
  // Docker: a request's entrypoint replaces the image's and drops the image's cmd with it.
  const entrypoint = spec.entrypoint !== undefined ? [...spec.entrypoint] : [...(image.entrypoint ?? [])];
  const cmd = nonEmpty(spec.cmd) ? [...spec.cmd] : spec.entrypoint !== undefined ? [] : [...(image.cmd ?? [])];
  if (entrypoint.length + cmd.length === 0) throw new InvalidParameterError('No command specified');
  const stopSignal = spec.stopSignal ?? image.stopSignal;
  return {
    image: spec.image,
    imageId,
    hostname: spec.hostname || id.slice(0, 12),
    domainname: spec.domainname ?? '',
    user: spec.user ?? image.user ?? '',
    env: mergeEnv(image.env ?? [], spec.env ?? []),
    cmd,
    entrypoint,
    workingDir: spec.workingDir || image.workingDir || '',
    tty: spec.tty ?? false,
    openStdin: spec.openStdin ?? false,
    stdinOnce: spec.stdinOnce ?? false,
    labels: { ...(image.labels ?? {}), ...(spec.labels ?? {}) },
    ...(stopSignal !== undefined ? { stopSignal } : {}),
    ...(spec.stopTimeout !== undefined ? { stopTimeout: spec.stopTimeout } : {}),
  };
}

export function processOf(config: ContainerConfig): ProcessSpec {
  return {
    argv: [...config.entrypoint, ...config.cmd],
    env: [...config.env],
    ...(config.user ? { user: config.user } : {}),
    ...(config.workingDir ? { cwd: config.workingDir } : {}),
    tty: config.tty,
  };
}

/** `docker ps`'s COMMAND: argv joined, quoted where a word has spaces. */
export function commandLine(argv: readonly string[]): string {
  return argv.map((a) => (/[\s"]/.test(a) ? JSON.stringify(a) : a)).join(' ');
}
