import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pruneCache } from '../../src/bootstrap/build';
import { renderInit } from '../../src/bootstrap/initScript';
import { parsePolicy } from '../../src/bootstrap/pinCheck';

describe('parsePolicy', () => {
  it('finds the candidate and the versions a repository still offers', () => {
    const text = `nodejs:
  Installed: 20.20.2-1nodesource1+repack1
  Candidate: 20.20.2-1nodesource1+repack1
  Version table:
 *** 20.20.2-1nodesource1+repack1 100
        100 /var/lib/dpkg/status
     18.20.4+dfsg-1~deb12u3 500
        500 http://deb.example/debian-security bookworm-security/main amd64 Packages
     18.20.4+dfsg-1~deb12u2 500
        500 http://deb.example/debian bookworm/main amd64 Packages
`;
    expect(parsePolicy(text)).toEqual({
      candidate: '20.20.2-1nodesource1+repack1',
      downloadable: ['18.20.4+dfsg-1~deb12u3', '18.20.4+dfsg-1~deb12u2'],
    });
  });

  it('knows a package apt has never heard of', () => {
    expect(parsePolicy('isolinux:\n  Installed: (none)\n  Candidate: (none)\n  Version table:\n')).toEqual({
      candidate: undefined,
      downloadable: [],
    });
  });
});

describe('pruneCache', () => {
  it('keeps the most recently used images and nothing else of its own', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bootstrap-cache-'));
    try {
      const hashes = ['a', 'b', 'c', 'd'].map((c) => c.repeat(64));
      hashes.forEach((h, i) => {
        mkdirSync(join(dir, h));
        writeFileSync(join(dir, h, 'manifest.json'), '{}');
        utimesSync(join(dir, h, 'manifest.json'), 1000 + i, 1000 + i);
      });
      mkdirSync(join(dir, 'debs'));
      const removed = await pruneCache(dir, 2);
      expect(removed.map((r) => r.slice(-64)).sort()).toEqual([hashes[0], hashes[1]]);
      expect(readdirSync(dir).sort()).toEqual([hashes[2], hashes[3], 'debs']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('renderInit', () => {
  it('loads the modules in the given order and execs Node from the CD', () => {
    const init = renderInit({
      modules: ['virtio.ko', 'virtio_pci.ko'],
      nodePath: 'node/bin/node',
      tetherMain: 'tether/main.js',
    });
    expect(init.startsWith('#!/bin/sh\n')).toBe(true);
    expect(init).toContain('for m in virtio.ko virtio_pci.ko; do');
    expect(init).toContain('mount -t iso9660 -o ro');
    expect(init.trimEnd().split('\n').pop()).toBe('exec /vch/node/bin/node /vch/tether/main.js');
  });
});
