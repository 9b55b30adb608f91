/**
 * Throwaway certificates with the openssl CLI (Node cannot issue X.509 itself): a CA and a
 * server certificate for 127.0.0.1 (a TLS test registry), and a self-signed signing
 * certificate for the token server (docker-registry trusts token signers by certificate).
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export interface KeyPair {
  readonly certPath: string;
  readonly keyPath: string;
  readonly certPem: string;
  readonly keyPem: string;
}

async function load(certPath: string, keyPath: string): Promise<KeyPair> {
  return { certPath, keyPath, certPem: await readFile(certPath, 'utf8'), keyPem: await readFile(keyPath, 'utf8') };
}

/** A self-signed P-256 certificate (a CA, or a token signer). */
export async function selfSigned(dir: string, name: string, commonName: string): Promise<KeyPair> {
  const certPath = join(dir, `${name}.pem`);
  const keyPath = join(dir, `${name}.key`);
  await run('openssl', [
    'req',
    '-x509',
    ...EC,
    '-keyout',
    keyPath,
    '-out',
    certPath,
    '-days',
    '3650',
    '-subj',
    `/CN=${commonName}`,
  ]);
  return load(certPath, keyPath);
}

/** A server certificate for `ip`, signed by `ca`. */
export async function serverCertificate(dir: string, ca: KeyPair, ip: string): Promise<KeyPair> {
  const certPath = join(dir, 'server.pem');
  const keyPath = join(dir, 'server.key');
  const csrPath = join(dir, 'server.csr');
  const extPath = join(dir, 'server.ext');
  await writeFile(extPath, `subjectAltName=IP:${ip}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
  await run('openssl', ['req', ...EC, '-keyout', keyPath, '-out', csrPath, '-subj', `/CN=${ip}`]);
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    csrPath,
    '-CA',
    ca.certPath,
    '-CAkey',
    ca.keyPath,
    '-CAcreateserial',
    '-out',
    certPath,
    '-days',
    '3650',
    '-extfile',
    extPath,
  ]);
  return load(certPath, keyPath);
}
