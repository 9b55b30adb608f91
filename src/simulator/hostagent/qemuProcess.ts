/**
 * One qemu: started with its QMP and guestinfo sockets already listening, stopped through
 * QMP `quit` (then signals), and never outliving the agent: it runs under
 * `setpriv --pdeathsig KILL` (prctl PR_SET_PDEATHSIG: the kernel kills it when the agent's
 * process dies, however it dies; qemu 7.2 has no `-run-with exit-with-parent`).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { type QemuPlan, qemuArgs } from './qemuArgs';
import { Qmp, type QmpEvent } from './qmp';

export const QEMU_BINARY = 'qemu-system-x86_64';

export interface QemuExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** qemu's last stderr lines: why it failed to start or died. */
  readonly stderr: string;
}

let setprivWorks: boolean | undefined;
function hasSetprivPdeathsig(): boolean {
  setprivWorks ??= spawnSync('setpriv', ['--pdeathsig', 'KILL', 'true']).status === 0;
  return setprivWorks;
}

/** Every qemu this process started and not yet reaped: killed synchronously on exit. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

export class QemuProcess {
  readonly exited: Promise<QemuExit>;
  private constructor(
    readonly child: ChildProcess,
    readonly qmp: Qmp,
    exited: Promise<QemuExit>,
  ) {
    this.exited = exited;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /**
   * Starts qemu and connects QMP. The QMP socket is a server of ours that qemu connects to
   * at startup, so there is no window where qemu runs without the agent's control.
   */
  static async start(plan: QemuPlan, onEvent: (e: QmpEvent) => void, startTimeoutMs = 30_000): Promise<QemuProcess> {
    installExitHook();
    const qmpServer = createServer();
    await new Promise<void>((resolve, reject) => {
      qmpServer.once('error', reject);
      qmpServer.listen(plan.qmpSocket, resolve);
    });
    const qmpConn = new Promise<Socket>((resolve) => qmpServer.once('connection', resolve));

    const args = qemuArgs(plan);
    const [cmd, argv] = hasSetprivPdeathsig()
      ? ['setpriv', ['--pdeathsig', 'KILL', QEMU_BINARY, ...args]]
      : [QEMU_BINARY, args];
    // Its own process group: a Ctrl-C at the terminal is for the agent, which then stops
    // qemu in order; the parent-death signal still covers an agent that dies outright.
    const child = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    live.add(child);
    let tail = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      tail = (tail + chunk).slice(-4096);
    });
    const exited = new Promise<QemuExit>((resolve) => {
      child.on('close', (code, signal) => {
        live.delete(child);
        qmpServer.close();
        resolve({ code, signal, stderr: tail.trim() });
      });
      child.on('error', (err) => {
        live.delete(child);
        qmpServer.close();
        resolve({ code: null, signal: null, stderr: err.message });
      });
    });

    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`qemu did not connect QMP within ${startTimeoutMs} ms`)),
        startTimeoutMs,
      );
    });
    try {
      const socket = await Promise.race([
        qmpConn,
        exited.then((e) => Promise.reject(new Error(`qemu exited at start (${e.code ?? e.signal}): ${e.stderr}`))),
        timeout,
      ]);
      qmpServer.close(); // one connection is all there will be; the socket stays open
      const qmp = new Qmp(socket, onEvent);
      await Promise.race([qmp.negotiate(), timeout]);
      return new QemuProcess(child, qmp, exited);
    } catch (err) {
      child.kill('SIGKILL');
      await exited;
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Ends qemu: QMP quit, SIGTERM after 2 s, SIGKILL after 5 s. Resolves once it is reaped. */
  async stop(): Promise<QemuExit> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.qmp.execute('quit').catch(() => undefined);
      const term = setTimeout(() => this.child.kill('SIGTERM'), 2000);
      const kill = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      const result = await this.exited;
      clearTimeout(term);
      clearTimeout(kill);
      return result;
    }
    return this.exited;
  }
}
