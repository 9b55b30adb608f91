/**
 * The port layer's image types in the JSON shapes of the Engine API (PascalCase, Unix
 * seconds for listings, RFC 3339 for inspect), with the fields that changed between API
 * versions decided here.
 */

import type {
  ImageDeleteItem,
  ImageDetails,
  ImageHistoryEntry,
  ImageRunConfig,
  ImageSummary,
} from '../../portlayer/api';
import { compareApiVersions } from '../versioning';

/** `VirtualSize` was removed in API 1.44. */
function withVirtualSize(apiVersion: string, size: number): { VirtualSize?: number } {
  return compareApiVersions(apiVersion, '1.44') < 0 ? { VirtualSize: size } : {};
}

function unixSeconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

export interface DockerImageSummary {
  Id: string;
  ParentId: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: number;
  Size: number;
  SharedSize: number;
  VirtualSize?: number;
  Labels: Record<string, string>;
  Containers: number;
}

export function toDockerImageSummary(image: ImageSummary, apiVersion: string): DockerImageSummary {
  return {
    Id: image.id,
    ParentId: image.parentId,
    RepoTags: [...image.repoTags],
    RepoDigests: [...image.repoDigests],
    Created: unixSeconds(image.created),
    Size: image.size,
    // -1: not computed, as dockerd says unless asked for shared size.
    SharedSize: -1,
    ...withVirtualSize(apiVersion, image.size),
    Labels: { ...image.labels },
    Containers: image.containers,
  };
}

function setOf(keys: readonly string[] | undefined): Record<string, Record<string, never>> | null {
  if (keys === undefined || keys.length === 0) return null;
  return Object.fromEntries(keys.map((k) => [k, {}]));
}

function listOrNull(values: readonly string[] | undefined): string[] | null {
  return values === undefined ? null : [...values];
}

export function toDockerImageConfig(c: ImageRunConfig): Record<string, unknown> {
  return {
    Hostname: '',
    Domainname: '',
    User: c.user ?? '',
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    ExposedPorts: setOf(c.exposedPorts),
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    Env: listOrNull(c.env),
    Cmd: listOrNull(c.cmd),
    ...(c.healthcheck !== undefined
      ? {
          Healthcheck: {
            Test: listOrNull(c.healthcheck.test),
            Interval: c.healthcheck.interval ?? 0,
            Timeout: c.healthcheck.timeout ?? 0,
            Retries: c.healthcheck.retries ?? 0,
            StartPeriod: c.healthcheck.startPeriod ?? 0,
          },
        }
      : {}),
    Image: '',
    Volumes: setOf(c.volumes),
    WorkingDir: c.workingDir ?? '',
    Entrypoint: listOrNull(c.entrypoint),
    OnBuild: listOrNull(c.onBuild),
    Labels: c.labels === undefined ? null : { ...c.labels },
    ...(c.stopSignal !== undefined ? { StopSignal: c.stopSignal } : {}),
  };
}

export function toDockerImageInspect(image: ImageDetails, apiVersion: string): Record<string, unknown> {
  return {
    Id: image.id,
    RepoTags: [...image.repoTags],
    RepoDigests: [...image.repoDigests],
    Parent: image.parentId,
    Comment: image.comment,
    Created: image.created.toISOString(),
    DockerVersion: '',
    Author: image.author,
    Config: toDockerImageConfig(image.config),
    Architecture: image.architecture,
    ...(image.variant !== undefined ? { Variant: image.variant } : {}),
    Os: image.os,
    Size: image.size,
    ...withVirtualSize(apiVersion, image.size),
    // Layers are read-only VMDKs on the image datastore, stacked by overlayfs in the container VM.
    GraphDriver: { Name: 'vsphere', Data: null },
    RootFS: { Type: 'layers', Layers: [...image.layers] },
    Metadata: { LastTagTime: image.lastTagTime?.toISOString() ?? '0001-01-01T00:00:00Z' },
  };
}

export function toDockerHistory(entries: readonly ImageHistoryEntry[]): Record<string, unknown>[] {
  return entries.map((e) => ({
    Id: e.id,
    Created: unixSeconds(e.created),
    CreatedBy: e.createdBy,
    Tags: e.tags.length === 0 ? null : [...e.tags],
    Size: e.size,
    Comment: e.comment,
  }));
}

export type DockerDeleteItem = { Untagged: string } | { Deleted: string };

export function toDockerDeleteItems(items: readonly ImageDeleteItem[]): DockerDeleteItem[] {
  return items.map((i): DockerDeleteItem => ('untagged' in i ? { Untagged: i.untagged } : { Deleted: i.deleted }));
}
