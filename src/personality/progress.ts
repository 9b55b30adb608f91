/**
 * Docker's JSON progress stream: newline-delimited JSON messages, as `docker pull` (and
 * later push, build, load) reads them. The response starts lazily, on the first message, so
 * that a failure before any progress still leaves as a proper HTTP error (dockerd does the
 * same); after that an error can only travel inside the stream, as `errorDetail`.
 */

import type { Response } from 'express';
import { JSON_CONTENT_TYPE } from './json-response';

export interface ProgressDetail {
  readonly current?: number;
  readonly total?: number;
}

/** One message, with Docker's field names (the subset VCH sends). */
export interface JsonMessage {
  readonly status?: string;
  readonly progressDetail?: ProgressDetail;
  /** The bar the CLI prints when it is not a terminal; derived from progressDetail. */
  readonly progress?: string;
  readonly id?: string;
  readonly errorDetail?: { readonly message: string; readonly code?: number };
  /** Deprecated duplicate of errorDetail.message that old clients read. */
  readonly error?: string;
  readonly aux?: unknown;
}

const SIZE_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'] as const;

/** go-units' `HumanSize`: decimal units, four significant digits (`1.235MB`). */
export function humanSize(bytes: number): string {
  let size = bytes;
  let i = 0;
  while (size >= 1000 && i < SIZE_UNITS.length - 1) {
    size /= 1000;
    i++;
  }
  return `${Number(size.toPrecision(4))}${SIZE_UNITS[i]}`;
}

/** Width of the bar in characters at 100 %. */
const BAR_WIDTH = 50;

/**
 * The `progress` string dockerd sends: `[=====>     ]  1.2MB/3.4MB`. The daemon has no
 * terminal, so Docker renders it at its default width (bar shown) and without time left.
 */
export function progressBar(current: number, total: number): string {
  if (current <= 0 && total <= 0) return '';
  if (total <= 0) return humanSize(current).padStart(8);
  const filled = Math.min(BAR_WIDTH, Math.trunc(Math.trunc((current / total) * 100) / 2));
  const bar = `[${'='.repeat(filled)}>${' '.repeat(BAR_WIDTH - filled)}] `;
  const numbers =
    current > total ? humanSize(current).padStart(8) : `${humanSize(current).padStart(8)}/${humanSize(total)}`;
  return bar + numbers;
}

/** Builds a progress message; `progress` only when there is a bar to show, as dockerd omits it. */
export function progressMessage(id: string, status: string, current?: number, total?: number): JsonMessage {
  const detail: ProgressDetail = {
    ...(current !== undefined ? { current } : {}),
    ...(total !== undefined ? { total } : {}),
  };
  const bar = current !== undefined ? progressBar(current, total ?? 0) : '';
  return { status, progressDetail: detail, ...(bar !== '' ? { progress: bar } : {}), id };
}

export function statusMessage(status: string, id?: string): JsonMessage {
  return { status, ...(id !== undefined ? { id } : {}) };
}

export function errorMessage(message: string): JsonMessage {
  return { errorDetail: { message }, error: message };
}

/** Writes JSON messages to one response. */
export class JsonProgressStream {
  private startedFlag = false;

  constructor(private readonly res: Response) {}

  /** True once the 200 and the first message are on the wire. */
  get started(): boolean {
    return this.startedFlag;
  }

  write(message: JsonMessage): void {
    if (this.res.writableEnded || this.res.destroyed) return;
    if (!this.startedFlag) {
      this.startedFlag = true;
      this.res.status(200);
      this.res.setHeader('Content-Type', JSON_CONTENT_TYPE);
      // Each message must reach the client when written, not when Nagle decides.
      this.res.socket?.setNoDelay(true);
      this.res.flushHeaders();
    }
    this.res.write(`${JSON.stringify(message)}\n`);
  }

  /** An error after the stream started; the CLI prints it and exits non-zero. */
  fail(message: string): void {
    this.write(errorMessage(message));
  }

  end(): void {
    if (!this.startedFlag) {
      // Nothing was said: still a valid (empty) stream.
      this.res.status(200).setHeader('Content-Type', JSON_CONTENT_TYPE);
      this.startedFlag = true;
    }
    this.res.end();
  }
}
