import type { Command } from 'commander';
import { buildBootstrap, checkPins } from '../../src/bootstrap';

/** `vch bootstrap`: build (or find in the cache) the image container VMs boot from. */
export function registerBootstrap(program: Command): void {
  program
    .command('bootstrap')
    .description('build the container VM bootstrap image (kernel, initramfs, Node and the tether on one ISO)')
    .option('--tether <dir>', 'directory whose main.js is the tether (default: dist/src/tether, else a placeholder)')
    .option('--cache <dir>', 'cache directory (default: <repo>/.cache/bootstrap)')
    .option('--force', 'rebuild even if the cache has this image')
    .option('--json', 'print the result as JSON')
    .option('--check-pins', 'say whether the pinned Debian packages can still be downloaded (run apt-get update first)')
    .action(async (opts: { tether?: string; cache?: string; force?: boolean; json?: boolean; checkPins?: boolean }) => {
      if (opts.checkPins) {
        let stale = 0;
        for (const s of await checkPins()) {
          const now = s.current ? `${s.current.name}=${s.current.version}` : 'not offered';
          const same = s.current?.name === s.pin.name && s.current.version === s.pin.version;
          if (!s.available) stale++;
          process.stdout.write(
            `${s.available ? 'ok   ' : 'GONE '} ${s.pin.name}=${s.pin.version}${same ? '' : ` (current: ${now})`}\n`,
          );
        }
        if (stale > 0) throw new Error(`${stale} pin(s) can no longer be downloaded: update src/bootstrap/pins.ts`);
        return;
      }
      const started = Date.now();
      const image = await buildBootstrap({
        tetherDir: opts.tether,
        cacheDir: opts.cache,
        force: opts.force,
        log: opts.json ? undefined : (line) => process.stderr.write(`${line}\n`),
      });
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ ...image, seconds: (Date.now() - started) / 1000 }, null, 2)}\n`);
      } else {
        process.stdout.write(`${image.iso}\n`);
        process.stderr.write(
          `${image.cached ? 'cached' : 'built'} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
        );
      }
    });
}
