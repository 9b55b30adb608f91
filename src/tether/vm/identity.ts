/**
 * The container's name on the inside: hostname (the VM's kernel is the container's, so the
 * kernel's own hostname is set, through /proc), /etc/hosts and /etc/resolv.conf written into
 * the merged root (they land in the read-write layer). Helper steps, run with the root's.
 */
import { join } from 'node:path';
import type { ContainerVmSpec } from '../protocol/containerSpec';
import type { Step } from './rootfs';

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

export function identitySteps(spec: ContainerVmSpec, root: string): Step[] {
  return [
    ['write', '/proc/sys/kernel/hostname', spec.hostname],
    ...(spec.domainname ? [['write', '/proc/sys/kernel/domainname', spec.domainname] as Step] : []),
    ['mkdir', join(root, 'etc')],
    ['write', join(root, 'etc/hosts'), hostsFile(spec)],
    ['write', join(root, 'etc/resolv.conf'), resolvConf(spec)],
    ['write', join(root, 'etc/hostname'), `${spec.hostname}\n`],
  ];
}
