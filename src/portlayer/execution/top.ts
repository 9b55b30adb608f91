/**
 * `docker top`: `ps` run in the container (busybox's) through the exec path, its output
 * split into Docker's Titles and Processes. The guest's kernel threads and the `ps` itself
 * are left out: Docker shows the container's processes, not the machine's.
 */
import { Writable } from 'node:stream';
import {
  type ContainerAttachment,
  type ContainerExecOptions,
  type ContainerStdio,
  type ContainerTop,
  SystemError,
} from '../api';

/**
 * Without psArgs, busybox's own default: `pid,user[,time],args` (`time` only when the build
 * has it: `-o pid,user,time,args` fails on builds without FEATURE_PS_TIME).
 */
export const DEFAULT_PS_ARGS: readonly string[] = [];

const TOP_TIMEOUT_MS = 30_000;

export function psCommand(psArgs?: string): string[] {
  const extra = psArgs?.trim() ? psArgs.trim().split(/\s+/) : [...DEFAULT_PS_ARGS];
  return ['ps', ...extra];
}

/**
 * Docker's parsing: the header's words are the titles; every other line has as many
 * fields, the last taking the rest of the line (the command and its arguments).
 */
export function parsePs(output: string, ownArgv?: readonly string[]): ContainerTop {
  const lines = output.split('\n').filter((l) => l.trim() !== '');
  const header = lines.shift();
  if (!header) throw new SystemError('ps printed nothing');
  const titles = header.trim().split(/\s+/);
  const cmdAt = titles.findIndex((t) => t === 'CMD' || t === 'COMMAND' || t === 'ARGS');
  const own = ownArgv?.join(' ');
  const processes: string[][] = [];
  for (const line of lines) {
    const fields = line.trim().split(/\s+/);
    const row =
      fields.length > titles.length
        ? [...fields.slice(0, titles.length - 1), fields.slice(titles.length - 1).join(' ')]
        : fields;
    if (cmdAt >= 0) {
      const cmd = row[cmdAt] ?? '';
      if (/^\[.*\]$/.test(cmd)) continue; // a kernel thread
      if (own !== undefined && cmd === own) continue; // this ps
    }
    processes.push(row);
  }
  return { titles, processes };
}

type Exec = (options: ContainerExecOptions, stdio: ContainerStdio) => Promise<ContainerAttachment>;

/** Runs ps through `exec` and parses its answer; SystemError with ps's stderr when it fails. */
export async function topOf(exec: Exec, psArgs?: string): Promise<ContainerTop> {
  const argv = psCommand(psArgs);
  const out = collector();
  const err = collector();
  const attachment = await exec({ cmd: argv, tty: false }, { stdout: out.stream, stderr: err.stream });
  let timer: NodeJS.Timeout | undefined;
  try {
    const code = await Promise.race([
      attachment.exitCode,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new SystemError(`ps did not finish within ${TOP_TIMEOUT_MS} ms`)),
          TOP_TIMEOUT_MS,
        );
      }),
    ]);
    // The exit may come just before the last output: wait for both streams to end (briefly).
    await Promise.race([Promise.all([out.done, err.done]), new Promise((r) => setTimeout(r, 1000))]);
    if (code !== 0) {
      throw new SystemError(`ps ${argv.slice(1).join(' ')} failed (exit ${code}): ${err.text().trim()}`);
    }
    return parsePs(out.text(), argv);
  } finally {
    if (timer) clearTimeout(timer);
    attachment.detach();
  }
}

function collector(): { stream: Writable; done: Promise<void>; text(): string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(Buffer.from(chunk));
      cb();
    },
  });
  const done = new Promise<void>((resolve) => {
    stream.once('finish', () => resolve());
    stream.once('close', () => resolve());
  });
  return { stream, done, text: () => Buffer.concat(chunks).toString('utf8') };
}
