/**
 * The control plane as a user meets it: `atrest up` (the real CLI, a child process) with its control
 * plane and its own cluster registered, and the official `@alicloud/cs20151215` client against it.
 */
import type { ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { spawnAtrest } from "./cli.js";
import { sdkClient } from "./identity-stack.js";

const require = createRequire(import.meta.url);

type SdkCtor = new (config: unknown) => Record<string, (...args: unknown[]) => Promise<unknown>>;
/** The official cs SDK (2015-12-15), loaded as an application would (its CommonJS build). */
export const csSdk = require("@alicloud/cs20151215") as { default: SdkCtor; [model: string]: unknown };

export interface UpReady {
  readonly kubeconfig: string;
  readonly apiserverUrl: string;
  readonly kmsEndpoint: string;
  readonly identityEndpoint: string;
  readonly kmsProfile: string;
  readonly keyId: string;
  readonly keyAlias: string;
  readonly clusterFile: string;
  readonly controlPlaneUrl: string;
  readonly clusterId: string;
  readonly region: string;
  readonly pluginRoleArn: string;
  readonly storeLocation: { readonly sqlite?: string };
}

const READY_TIMEOUT_MS = 120_000;

/** Starts `atrest up -o json` and resolves with its ready line (rejects with stderr if it exits first). */
export async function startUpWithControlPlane(
  dataDir: string,
  extraArgs: readonly string[] = [],
): Promise<{ child: ChildProcess; ready: UpReady; stderr: () => string }> {
  const args = ["up", "--data-dir", dataDir, "--secure-port", "0", "-o", "json", ...extraArgs];
  const child = spawnAtrest(args, {
    env: { ...process.env, ATREST_FROM_SOURCE: "1", ATREST_LOG_LEVEL: "warn" },
  });
  let out = "";
  let err = "";
  child.stderr?.on("data", (c: Buffer) => (err += c.toString()));
  const ready = await new Promise<UpReady>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ready line in time; stderr: ${err}`)),
      READY_TIMEOUT_MS,
    );
    child.stdout?.on("data", (c: Buffer) => {
      out += c.toString();
      const nl = out.indexOf("\n");
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(JSON.parse(out.slice(0, nl)) as UpReady);
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`atrest up exited ${String(code)} before ready: ${err}`));
    });
  });
  return { child, ready, stderr: () => err };
}

export type Creds = { accessKeyId: string; accessKeySecret: string; securityToken?: string };

/** The official cs client for the control plane, unmodified but for its endpoint (and CA). */
export function csClient(url: string, caPem: string, creds: Creds) {
  return sdkClient(csSdk, url, caPem, creds);
}

export const csModel = (name: string, v: Record<string, unknown> = {}): unknown =>
  new (csSdk[name] as new (v: Record<string, unknown>) => unknown)(v);

/** What the SDK throws for an error answer: status, ACK's code, the request id. */
export async function csFailure(
  p: Promise<unknown>,
): Promise<{ status: number; code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as { statusCode?: number; code?: string; message?: string; data?: { requestId?: string } };
    if (typeof e.statusCode !== "number") throw err;
    if (typeof e.data?.requestId !== "string" || e.data.requestId === "")
      throw new Error(`an error answer without requestId: ${JSON.stringify(e.data)}`);
    return { status: e.statusCode, code: String(e.code), message: String(e.message) };
  }
  throw new Error("the call succeeded");
}

/** Polls `check` until it returns a value (not undefined), at most `timeoutMs`. */
export async function until<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out waiting for ${what}${last === undefined ? "" : `: ${last instanceof Error ? last.message : JSON.stringify(last)}`}`,
      );
    await new Promise((r) => setTimeout(r, 250));
  }
}
