/**
 * No qemu outlives the host agent: an agent process killed outright (SIGKILL, no chance to
 * clean up) takes its qemu with it, through the parent-death signal qemu runs under. Also
 * the guestinfo line codec both ends share.
 */
import { spawn, spawnSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { BootstrapImage } from '../../src/bootstrap';
import { encodeReply, encodeRequest, parseReply, parseRequest } from '../../src/tether/guestinfo';
import { powerOn } from '../../src/vsphere/virtualMachine';
import {
  type BareBox,
  buildGuestImage,
  createGuestVm,
  isAlive,
  startBareBox,
} from '../fixtures/hostagent-guest/harness';

jest.setTimeout(300_000);

describe('guestinfo line codec', () => {
  it('round-trips requests and replies, values of any text', () => {
    const value = 'a "quoted"\nmulti-line ✓ value\\';
    const line = encodeRequest({ op: 'set', key: 'guestinfo.vch.x', value });
    expect(line.endsWith('\n')).toBe(true);
    expect(line.slice(0, -1)).not.toContain('\n');
    expect(parseRequest(line.slice(0, -1))).toEqual({ op: 'set', key: 'guestinfo.vch.x', value });
    expect(parseRequest('get guestinfo.a')).toEqual({ op: 'get', key: 'guestinfo.a' });
    expect(parseRequest('freeze')).toEqual({ op: 'freeze' });
    expect(parseReply(encodeReply({ ok: true, value }).trimEnd())).toEqual({ ok: true, value });
    expect(parseReply('ok null')).toEqual({ ok: true, value: null });
    expect(parseReply(encodeReply({ ok: false, error: 'nope' }).trimEnd())).toEqual({ ok: false, error: 'nope' });
  });

  it('refuses keys outside guestinfo.* and malformed lines', () => {
    expect(() => parseRequest('get answer.42')).toThrow(/not a guestinfo key/);
    expect(() => parseRequest('set guestinfo.a 42')).toThrow(/JSON string/);
    expect(() => parseRequest('set guestinfo.a')).toThrow(/needs a value/);
    expect(() => parseRequest('hello')).toThrow(/bad request/);
    expect(() => encodeRequest({ op: 'get', key: 'guestinfo.has space' })).toThrow();
  });
});

describe('host agent lifecycle', () => {
  let image: BootstrapImage;
  let box: BareBox;

  beforeAll(async () => {
    image = await buildGuestImage();
    box = await startBareBox(image);
  }, 600_000);

  afterAll(async () => {
    await box?.stop();
  });

  it('takes its qemu down when the agent process is killed outright', async () => {
    // The agent runs in a process of its own (the box has none), so it can be killed outright.
    const { sim } = box;
    const leftovers: string[] = [];
    const child = spawn(process.execPath, [path.join(__dirname, '../fixtures/hostagent-guest/agent-child.js')], {
      env: {
        ...process.env,
        VCH_SIM: JSON.stringify(sim),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // The child agent's log: kept for a failure message, not shown.
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    try {
      const first = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout }).once('line', resolve);
        child.once('exit', (code) => reject(new Error(`agent child exited (${code}): ${stderr}`)));
      });
      const dirs = JSON.parse(first) as { stateDir: string; ramDir: string };
      leftovers.push(dirs.stateDir, dirs.ramDir);
      const { stateDir } = dirs;
      const vm = await createGuestVm(box, 'ha-orphan', { 'guestinfo.vch.test.mode': 'stay' });
      await powerOn(box.ctx, vm);
      const pid = await until(() => {
        const out = spawnSync('pgrep', ['-f', `qemu-system-x86_64.*${stateDir}`], { encoding: 'utf8' }).stdout;
        const pids = out.split('\n').filter(Boolean).map(Number);
        return pids.length > 0 ? pids[0] : undefined;
      }, 30_000);
      expect(isAlive(pid)).toBe(true);
      child.kill('SIGKILL');
      await until(() => (isAlive(pid) ? undefined : true), 10_000);
      expect(isAlive(pid)).toBe(false);
    } finally {
      child.kill('SIGKILL');
      // A killed agent cleans nothing up: its folders are the test's to remove.
      await Promise.all(leftovers.map((d) => rm(d, { recursive: true, force: true })));
    }
  });
});

async function until<T>(f: () => T | undefined, timeoutMs: number): Promise<T> {
  const started = Date.now();
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
