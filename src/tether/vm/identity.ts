/**
 * The container's name on the inside: hostname (the VM's kernel is the container's, so the
 * kernel's own hostname is set, through /proc rather than a busybox exec), /etc/hosts and
 * /etc/resolv.conf written into the merged root (they land in the read-write layer).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerVmSpec } from '../protocol/containerSpec';

export function hostsFile(spec: ContainerVmSpec): string {
  const names = spec.domainname ? `${spec.hostname}.${spec.domainname} ${spec.hostname}` : spec.hostname;
  return [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    `127.0.1.1\t${names}`,
    ...(spec.hosts ?? []),
    '',
  ].join('\n');
}

export function resolvConf(spec: ContainerVmSpec): string {
  const servers = spec.dns && spec.dns.length > 0 ? spec.dns : [];
  return servers.map((s) => `nameserver ${s}\n`).join('');
}

export async function applyIdentity(spec: ContainerVmSpec, root: string): Promise<void> {
  await writeFile('/proc/sys/kernel/hostname', spec.hostname);
  if (spec.domainname) await writeFile('/proc/sys/kernel/domainname', spec.domainname);
  await mkdir(join(root, 'etc'), { recursive: true });
  await Promise.all([
    writeFile(join(root, 'etc/hosts'), hostsFile(spec)),
    writeFile(join(root, 'etc/resolv.conf'), resolvConf(spec)),
    writeFile(join(root, 'etc/hostname'), `${spec.hostname}\n`),
  ]);
}
