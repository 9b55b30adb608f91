/**
 * Writing JSON the way dockerd does. Express's `res.json` adds `; charset=utf-8` to the
 * Content-Type, and the docker CLI then prints an error body as raw JSON instead of its
 * message (FACTS.md), so every JSON answer goes through here instead.
 */

import type { Response } from 'express';

export const JSON_CONTENT_TYPE = 'application/json';

export function sendJson(res: Response, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.status(status);
  res.setHeader('Content-Type', JSON_CONTENT_TYPE);
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

/** 201/204 and friends: a status and nothing else. */
export function sendEmpty(res: Response, status: number): void {
  res.status(status);
  res.end();
}
