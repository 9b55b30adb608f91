/**
 * Runs the tether on the host: src/tether transpiled to plain JS in a temp dir (the tether
 * imports nothing outside it), tether-helper compiled beside it, and a child Node process
 * connected over a unix socket to an AttachServer in the test's process.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';
import { AttachServer } from '../../src/portlayer/interaction/attach-server';
import type { TetherClient } from '../../src/portlayer/interaction/tether-client';
import type { ProcessSpec } from '../../src/tether/protocol/messages';

const tetherSrc = join(__dirname, '../../src/tether');

/** Builds the tether once per test file; returns the directory holding main.js. */
export function buildTether(): string {
  const out = mkdtempSync(join(tmpdir(), 'tether-test-'));
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) {
        const js = ts.transpileModule(readFileSync(p, 'utf8'), {
          compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
        }).outputText;
        const target = join(out, relative(tetherSrc, p)).replace(/\.ts$/, '.js');
        mkdirSync(dirname(target), { recursive: true });
        writeFileSync(target, js);
      }
    }
  };
  walk(tetherSrc);
  execFileSync('gcc', ['-O2', '-o', join(out, 'tether-helper'), join(tetherSrc, 'native/tether-helper.c')]);
  return out;
}

export interface HostTether {
  client: TetherClient;
  child: ChildProcess;
  stderr: () => string;
  stop(): Promise<void>;
}

export class TetherHarness {
  private server!: AttachServer;
  private readonly children = new Set<ChildProcess>();
  private count = 0;

  constructor(
    readonly dir: string,
    private readonly socketPath = join(dir, 'attach.sock'),
  ) {}

  /** The attach server the tethers dial. */
  get attachServer(): AttachServer {
    return this.server;
  }

  async start(): Promise<void> {
    this.server = await AttachServer.listen({ path: this.socketPath });
  }

  /** Starts a tether whose main process is `main`, and waits for its hello. */
  async tether(main: ProcessSpec): Promise<HostTether> {
    const vmId = `vm-${++this.count}`;
    const specPath = join(this.dir, `${vmId}.json`);
    writeFileSync(specPath, JSON.stringify({ vmId, containerId: `c-${this.count}`, process: main }));
    const child = spawn(
      process.execPath,
      [join(this.dir, 'main.js'), '--connect', `unix:${this.socketPath}`, '--spec', specPath],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
        // Its own process group, so that stopping it stops the processes it started too.
        detached: true,
      },
    );
    this.children.add(child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const client = await this.server.waitFor(vmId, 15_000);
    return {
      client,
      child,
      stderr: () => stderr,
      stop: async () => {
        killGroup(child);
        await exited;
        this.children.delete(child);
      },
    };
  }

  async close(): Promise<void> {
    for (const c of this.children) killGroup(c);
    await this.server.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // the group is already gone
    // the group is already gone
  }
}

/** Collects a readable stream's bytes until it ends. */
export function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}
