import "reflect-metadata"; // @peculiar/x509 (through tsyringe) needs the Reflect metadata polyfill
import { webcrypto } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export interface TlsMaterial {
  caCertPem: string;
  certPem: string;
  keyPem: string;
}

export interface TlsFiles {
  caCertFile: string;
  certFile: string;
  keyFile: string;
}

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY_MS = 86_400_000;

function toPem(der: ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der)
    .toString("base64")
    .replace(/(.{64})/g, "$1\n");
  return `-----BEGIN ${label}-----\n${b64.trimEnd()}\n-----END ${label}-----\n`;
}

function serial(): string {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(16)))
    .toString("hex")
    .replace(/^[89a-f]/, "1");
}

/**
 * A self-signed CA and a serving certificate for `hosts` (DNS names and IP addresses), as the apiserver
 * and the KMS generate at first start. ECDSA P-256, CA valid 10 years, serving cert 1 year.
 */
export async function generateTlsMaterial(options: {
  commonName: string;
  hosts: string[];
  nowMs?: number;
}): Promise<TlsMaterial> {
  const now = options.nowMs ?? Date.now();
  const caKeys = await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${options.commonName}-ca@${Math.floor(now / 1000)}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 3650 * DAY_MS),
    signingAlgorithm: ALG,
    keys: caKeys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const keys = await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
  const ipPattern = /^(\d{1,3}\.){3}\d{1,3}$|:/;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${options.commonName}`,
    issuer: ca.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 365 * DAY_MS),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: caKeys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      new x509.SubjectAlternativeNameExtension(
        options.hosts.map((h) =>
          ipPattern.test(h) ? { type: "ip" as const, value: h } : { type: "dns" as const, value: h },
        ),
      ),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const keyDer = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  return {
    caCertPem: ca.toString("pem") + "\n",
    certPem: cert.toString("pem") + "\n",
    keyPem: toPem(keyDer, "PRIVATE KEY"),
  };
}

/**
 * Generates TLS material into `dir` (ca.crt, tls.crt, tls.key; the key 0600) unless it is already there;
 * a second start reuses it.
 */
export async function ensureTlsFiles(
  dir: string,
  options: { commonName: string; hosts: string[] },
): Promise<TlsFiles> {
  const files = {
    caCertFile: join(dir, "ca.crt"),
    certFile: join(dir, "tls.crt"),
    keyFile: join(dir, "tls.key"),
  };
  if (existsSync(files.certFile) && existsSync(files.keyFile) && existsSync(files.caCertFile)) return files;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const material = await generateTlsMaterial(options);
  writeFileSync(files.caCertFile, material.caCertPem, { mode: 0o644 });
  writeFileSync(files.certFile, material.certPem + material.caCertPem, { mode: 0o644 });
  writeFileSync(files.keyFile, material.keyPem, { mode: 0o600 });
  return files;
}

export function readTlsFiles(files: TlsFiles): TlsMaterial {
  return {
    caCertPem: readFileSync(files.caCertFile, "utf8"),
    certPem: readFileSync(files.certFile, "utf8"),
    keyPem: readFileSync(files.keyFile, "utf8"),
  };
}
