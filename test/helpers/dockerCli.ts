/**
 * Runs the real docker CLI against a server of ours, isolated from the machine's own
 * configuration: a fresh DOCKER_CONFIG per call, no inherited DOCKER_* variables, no hints.
 */

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const DOCKER_BIN = process.env.VCH_TEST_DOCKER ?? '/usr/local/bin/docker';

export interface DockerRunOptions {
  /** DOCKER_HOST, e.g. `tcp://127.0.0.1:2375`. */
  readonly host: string;
  /** Extra environment (DOCKER_API_VERSION, …). */
  readonly env?: Readonly<Record<string, string>>;
  readonly stdin?: string;
  readonly timeoutMs?: number;
  /** Run under a pseudo-terminal (util-linux `script`), as a user at a terminal would. */
  readonly tty?: boolean;
  /**
   * A DOCKER_CONFIG folder the caller owns and keeps between calls (what `docker login`
   * writes and later pulls read); default a fresh one per call, removed after it.
   */
  readonly configDir?: string;
}

export interface DockerRunResult {
  readonly stdout: string;
  readonly stderr: string;
  /** Exit code; null when killed by the timeout. */
  readonly code: number | null;
}

export function dockerAvailable(): boolean {
  return fs.existsSync(DOCKER_BIN);
}

function shellQuote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export async function runDocker(args: readonly string[], options: DockerRunOptions): Promise<DockerRunResult> {
  const ownConfig = options.configDir === undefined;
  const configDir = options.configDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'vch-docker-config-'));
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('DOCKER_')) env[k] = v;
  }
  Object.assign(env, {
    DOCKER_CONFIG: configDir,
    DOCKER_HOST: options.host,
    DOCKER_CLI_HINTS: 'false',
    ...options.env,
  });
  try {
    return await new Promise<DockerRunResult>((resolve, reject) => {
      const [cmd, argv] = options.tty
        ? // A pty without a real terminal behind it is 0 columns wide; the CLI draws bars only when wide.
          [
            'script',
            ['-qefc', `stty cols 200 rows 50; exec ${[DOCKER_BIN, ...args].map(shellQuote).join(' ')}`, '/dev/null'],
          ]
        : [DOCKER_BIN, [...args]];
      const child = spawn(cmd, argv, { env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
      });
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ stdout, stderr, code });
      });
      child.stdin.end(options.stdin ?? '');
    });
  } finally {
    if (ownConfig) fs.rmSync(configDir, { recursive: true, force: true });
  }
}
