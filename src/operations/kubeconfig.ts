/**
 * The part of a kubeconfig an operation needs to talk to the Kubernetes API as kubectl would: the
 * current context's server, CA and credentials (bearer token or token file, client certificate and key,
 * inline or as files). Exec and auth-provider plugins are not run: they are refused with a clear error.
 */
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import YAML from "yaml";
import { z } from "zod";
import { AtrestError } from "../common/errors.js";

export interface KubeCredentials {
  /** `https://host:port` (no trailing slash). */
  readonly server: string;
  readonly caPem?: string;
  readonly insecureSkipTlsVerify: boolean;
  readonly tlsServerName?: string;
  readonly token?: string;
  readonly clientCertPem?: string;
  readonly clientKeyPem?: string;
}

const named = <T extends z.ZodType>(field: string, inner: T) =>
  z.array(z.object({ name: z.string(), [field]: inner }).loose()).optional();

const kubeconfigSchema = z
  .object({
    "current-context": z.string().optional(),
    clusters: named(
      "cluster",
      z
        .object({
          server: z.string(),
          "certificate-authority": z.string().optional(),
          "certificate-authority-data": z.string().optional(),
          "insecure-skip-tls-verify": z.boolean().optional(),
          "tls-server-name": z.string().optional(),
        })
        .loose(),
    ),
    users: named(
      "user",
      z
        .object({
          token: z.string().optional(),
          tokenFile: z.string().optional(),
          "client-certificate": z.string().optional(),
          "client-certificate-data": z.string().optional(),
          "client-key": z.string().optional(),
          "client-key-data": z.string().optional(),
          exec: z.unknown().optional(),
          "auth-provider": z.unknown().optional(),
        })
        .loose(),
    ),
    contexts: named("context", z.object({ cluster: z.string(), user: z.string().optional() }).loose()),
  })
  .loose();

function readText(file: string, base: string, what: string, source: string): string {
  const path = isAbsolute(file) ? file : resolve(base, file);
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new AtrestError(
      "invalid-argument",
      `kubeconfig ${source}: cannot read ${what} ${path} (${(err as NodeJS.ErrnoException).code ?? "error"})`,
      { cause: err },
    );
  }
}

/** Reads the kubeconfig at `path` and resolves its current context. Secrets never appear in errors. */
export function loadKubeconfig(path: string): KubeCredentials {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new AtrestError(
      "invalid-argument",
      `kubeconfig ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? "error"})`,
      { cause: err },
    );
  }
  return parseKubeconfig(text, path);
}

export function parseKubeconfig(text: string, source: string): KubeCredentials {
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (err) {
    throw new AtrestError("invalid-argument", `kubeconfig ${source}: not valid YAML`, { cause: err });
  }
  const parsed = kubeconfigSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const where = parsed.error.issues.map((i) => i.path.join(".") || "(file)").join(", ");
    throw new AtrestError("invalid-argument", `kubeconfig ${source}: malformed at ${where}`);
  }
  const kc = parsed.data;
  const str = (v: unknown): string => (typeof v === "string" ? v : "");
  const base = dirname(resolve(source));
  const contexts = kc.contexts ?? [];
  const contextName = kc["current-context"] ?? (contexts[0]?.name as string | undefined);
  const context = contexts.find((c) => c.name === contextName)?.["context"] as
    { cluster: string; user?: string } | undefined;
  if (context === undefined)
    throw new AtrestError("invalid-argument", `kubeconfig ${source}: no context ${contextName ?? "(none)"}`);
  const cluster = (kc.clusters ?? []).find((c) => c.name === context.cluster)?.["cluster"] as
    Record<string, unknown> | undefined;
  if (cluster === undefined)
    throw new AtrestError("invalid-argument", `kubeconfig ${source}: no cluster ${context.cluster}`);
  const user = ((kc.users ?? []).find((u) => u.name === context.user)?.["user"] ?? {}) as Record<
    string,
    unknown
  >;
  if (user["exec"] !== undefined || user["auth-provider"] !== undefined)
    throw new AtrestError(
      "invalid-argument",
      `kubeconfig ${source}: user ${context.user ?? ""} uses an exec or auth-provider plugin; give a token or a client certificate`,
    );
  const server = str(cluster["server"]).replace(/\/+$/, "");
  if (!/^https:\/\//.test(server))
    throw new AtrestError(
      "invalid-argument",
      `kubeconfig ${source}: server must be https:// (got ${server})`,
    );
  const b64 = (v: unknown) => Buffer.from(str(v), "base64").toString("utf8");
  const caPem =
    cluster["certificate-authority-data"] !== undefined
      ? b64(cluster["certificate-authority-data"])
      : cluster["certificate-authority"] !== undefined
        ? readText(str(cluster["certificate-authority"]), base, "certificate-authority", source)
        : undefined;
  const token =
    user["token"] !== undefined
      ? str(user["token"])
      : user["tokenFile"] !== undefined
        ? readText(str(user["tokenFile"]), base, "tokenFile", source).trim()
        : undefined;
  const clientCertPem =
    user["client-certificate-data"] !== undefined
      ? b64(user["client-certificate-data"])
      : user["client-certificate"] !== undefined
        ? readText(str(user["client-certificate"]), base, "client-certificate", source)
        : undefined;
  const clientKeyPem =
    user["client-key-data"] !== undefined
      ? b64(user["client-key-data"])
      : user["client-key"] !== undefined
        ? readText(str(user["client-key"]), base, "client-key", source)
        : undefined;
  if ((clientCertPem === undefined) !== (clientKeyPem === undefined))
    throw new AtrestError(
      "invalid-argument",
      `kubeconfig ${source}: a client certificate needs its key (and the other way round)`,
    );
  return Object.freeze({
    server,
    insecureSkipTlsVerify: cluster["insecure-skip-tls-verify"] === true,
    ...(caPem === undefined ? {} : { caPem }),
    ...(typeof cluster["tls-server-name"] === "string" ? { tlsServerName: cluster["tls-server-name"] } : {}),
    ...(token === undefined ? {} : { token }),
    ...(clientCertPem === undefined ? {} : { clientCertPem }),
    ...(clientKeyPem === undefined ? {} : { clientKeyPem }),
  });
}
