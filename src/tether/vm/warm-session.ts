/**
 * A whole backchannel session played in the template before it freezes, over an in-memory
 * pipe: hello, an attach that starts the main process through the launcher exactly as a
 * clone's is started (the helper's `exec`, chrooted), its output, its exit. Whatever code
 * this runs (frames, channels, streams, child_process with pipes) is compiled and its
 * lazily loaded internals are loaded in the frozen RAM, so no clone compiles it under TCG.
 */
import { dirname } from 'node:path';
import { Duplex, PassThrough } from 'node:stream';
import { FrameConnection } from '../protocol/connection';
import { DEFAULT_WINDOW } from '../protocol/flow-control';
import { FrameType } from '../protocol/frames';
import { encodeJson, type HelloAck, type OpenRequest, PROTOCOL_VERSION } from '../protocol/messages';
import { runTether } from '../tether';
import { runSteps, VCH_RUN } from './rootfs';

const WARM_ROOT = `${VCH_RUN}/warm`;

/** Two Duplexes, each reading what the other writes. */
function pipePair(): [Duplex, Duplex] {
  const ab = new PassThrough();
  const ba = new PassThrough();
  return [Duplex.from({ readable: ba, writable: ab }), Duplex.from({ readable: ab, writable: ba })];
}

/** Resolves with the main process's exit code (the helper's usage error: 125). */
export async function warmSession(helperPath: string): Promise<number> {
  // A root with one static executable in it: the helper's own directory, bound.
  await runSteps(helperPath, [['mount', dirname(helperPath), WARM_ROOT, 'bind', 'rw', '-']]);
  const [tetherEnd, hostEnd] = pipePair();
  const host = new FrameConnection(hostEnd);
  let output = 0;
  host.onFrame((frame) => {
    if (frame.type === FrameType.Hello) {
      const ack: HelloAck = { protocol: PROTOCOL_VERSION };
      host.send(FrameType.HelloAck, 0, encodeJson(ack));
      const open: OpenRequest = { kind: 'attach', window: DEFAULT_WINDOW };
      host.send(FrameType.Open, 1, encodeJson(open));
    } else if (frame.type === FrameType.Data) {
      output += frame.payload.length;
    }
  });
  const status = await runTether({
    spec: {
      read: async () => ({
        vmId: 'warm',
        containerId: 'warm',
        // No arguments: the helper prints its usage on stderr and exits 125.
        process: { argv: ['/tether-helper'], env: ['PATH=/'] },
        openStdin: false,
      }),
    },
    transport: async () => tetherEnd,
    rootDir: WARM_ROOT,
    chroot: true,
    helperPath,
    ready: Promise.resolve(),
  });
  host.destroy();
  tetherEnd.destroy();
  if (output === 0) throw new Error('warm session: no output');
  return status.exitCode;
}
