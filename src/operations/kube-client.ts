/**
 * A small Kubernetes REST client over node:https, with the kubeconfig's credentials. Hand-written on
 * purpose: the rewrite engine needs the wire exactly — a PUT of the object as read whose answer's
 * resourceVersion says whether the apiserver really rewrote it, `Retry-After` on 429/503 honoured per
 * request, kube's `Status` reasons kept, one keep-alive pool sized to the engine's concurrency — and
 * the same client reads /metrics and /readyz of each apiserver. Responses are parsed here; bodies are
 * never logged (they hold Secrets).
 */
import https from "node:https";
import { AtrestError, type ErrorCode } from "../common/errors.js";
import { systemClock, type Clock } from "../common/clock.js";
import type { KubeCredentials } from "./kubeconfig.js";

export interface KubeResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly text: string;
}

export interface RequestOptions {
  readonly body?: unknown;
  /** Retry 429/5xx/connection failures until this many ms have passed (0: no retry). */
  readonly retryForMs?: number;
  readonly accept?: string;
  readonly timeoutMs?: number;
  /** Called once per retry wait (progress output says why it pauses). */
  readonly onRetry?: (why: string, waitMs: number) => void;
}

export interface KubeClientStats {
  requests: number;
  retries: number;
  throttled: number;
}

/** A Kubernetes `Status` reason (NotFound, Conflict, AlreadyExists, …) when the answer had one. */
export function kubeReason(err: unknown): string | undefined {
  return err instanceof AtrestError ? (err.details["reason"] as string | undefined) : undefined;
}

export function httpStatusOf(err: unknown): number | undefined {
  return err instanceof AtrestError ? (err.details["httpStatus"] as number | undefined) : undefined;
}

function codeForStatus(status: number, reason: string | undefined): ErrorCode {
  if (status === 404) return "not-found";
  if (status === 409) return reason === "AlreadyExists" ? "already-exists" : "conflict";
  if (status === 410) return "gone";
  if (status === 401) return "unauthenticated";
  if (status === 403) return "permission-denied";
  if (status === 429) return "resource-exhausted";
  if (status === 400 || status === 422) return "invalid-argument";
  if (status === 504) return "deadline-exceeded";
  if (status >= 500) return "unavailable";
  return "internal";
}

/** Seconds (kube sends integers) or an HTTP date; capped so a bad header cannot stall an operation. */
function retryAfterMs(headers: KubeResponse["headers"], clock: Clock): number | undefined {
  const v = headers["retry-after"];
  const text = Array.isArray(v) ? v[0] : v;
  if (text === undefined || text === "") return undefined;
  const seconds = Number(text);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(text) - clock.now();
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(Math.max(ms, 0), 60_000);
}

const RETRYABLE_NETWORK =
  /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|socket hang up|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN/;

export class KubeClient {
  readonly stats: KubeClientStats = { requests: 0, retries: 0, throttled: 0 };
  readonly #agent: https.Agent;
  readonly #base: URL;
  readonly #creds: KubeCredentials;
  readonly #clock: Clock;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(
    creds: KubeCredentials,
    options: { baseUrl?: string; maxSockets?: number; clock?: Clock; agent?: https.Agent } = {},
  ) {
    this.#creds = creds;
    this.#base = new URL(options.baseUrl ?? creds.server);
    this.#clock = options.clock ?? systemClock;
    this.#sleep = (ms) => new Promise((r) => this.#clock.setTimeout(r, ms));
    this.#agent =
      options.agent ??
      new https.Agent({
        keepAlive: true,
        maxSockets: options.maxSockets ?? 64,
        ...(creds.caPem === undefined ? {} : { ca: creds.caPem }),
        ...(creds.clientCertPem === undefined ? {} : { cert: creds.clientCertPem }),
        ...(creds.clientKeyPem === undefined ? {} : { key: creds.clientKeyPem }),
        rejectUnauthorized: !creds.insecureSkipTlsVerify,
        ...(creds.tlsServerName === undefined ? {} : { servername: creds.tlsServerName }),
      });
  }

  /** The base URL (`https://host:port`). */
  get url(): string {
    return this.#base.origin;
  }

  /** The same credentials and connection pool against another apiserver (its /metrics, its /readyz). */
  forServer(baseUrl: string): KubeClient {
    return new KubeClient(this.#creds, { baseUrl, clock: this.#clock, agent: this.#agent });
  }

  /** One request; non-2xx answers become AtrestError with details {httpStatus, reason, path}. */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<KubeResponse> {
    const deadline = this.#clock.now() + (options.retryForMs ?? 0);
    let backoffMs = 100;
    for (;;) {
      let response: KubeResponse | undefined;
      let failure: AtrestError | undefined;
      try {
        response = await this.#send(method, path, options);
      } catch (err) {
        failure = err as AtrestError;
      }
      if (response !== undefined && response.status >= 200 && response.status < 300) return response;
      const error = failure ?? this.#errorOf(method, path, response!);
      const status = response?.status;
      const retryable =
        status === 429 ||
        (status !== undefined && status >= 500 && status !== 501) ||
        (failure !== undefined &&
          (failure.code === "deadline-exceeded" || RETRYABLE_NETWORK.test(failure.message)));
      if (status === 429) this.stats.throttled++;
      const hinted = response === undefined ? undefined : retryAfterMs(response.headers, this.#clock);
      const waitMs = hinted ?? backoffMs;
      if (!retryable || this.#clock.now() + waitMs > deadline) throw error;
      this.stats.retries++;
      options.onRetry?.(error.message, waitMs);
      await this.#sleep(waitMs);
      backoffMs = Math.min(backoffMs * 2, 2_000);
    }
  }

  async getJson<T = Record<string, unknown>>(path: string, options: RequestOptions = {}): Promise<T> {
    return JSON.parse((await this.request("GET", path, options)).text) as T;
  }

  async putJson<T = Record<string, unknown>>(
    path: string,
    body: unknown,
    options: RequestOptions = {},
  ): Promise<T> {
    return JSON.parse((await this.request("PUT", path, { ...options, body })).text) as T;
  }

  async postJson<T = Record<string, unknown>>(
    path: string,
    body: unknown,
    options: RequestOptions = {},
  ): Promise<T> {
    return JSON.parse((await this.request("POST", path, { ...options, body })).text) as T;
  }

  async delete(path: string, options: RequestOptions = {}): Promise<void> {
    await this.request("DELETE", path, options);
  }

  close(): void {
    this.#agent.destroy();
  }

  #errorOf(method: string, path: string, r: KubeResponse): AtrestError {
    let reason: string | undefined;
    let message = "";
    try {
      const s = JSON.parse(r.text) as { kind?: unknown; reason?: unknown; message?: unknown };
      if (s.kind === "Status") {
        reason = typeof s.reason === "string" ? s.reason : undefined;
        message = typeof s.message === "string" ? s.message : "";
      }
    } catch {
      // Not a Status (e.g. /readyz text): the status code says enough.
    }
    const what = `${method} ${this.#base.origin}${path.split("?")[0] ?? path}`;
    return new AtrestError(
      codeForStatus(r.status, reason),
      `${what}: HTTP ${r.status}${reason === undefined ? "" : ` ${reason}`}${message === "" ? "" : `: ${message}`}`,
      { details: { httpStatus: r.status, ...(reason === undefined ? {} : { reason }), path } },
    );
  }

  #send(method: string, path: string, options: RequestOptions): Promise<KubeResponse> {
    this.stats.requests++;
    const url = new URL(path, this.#base);
    const body = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body), "utf8");
    const headers: Record<string, string | number> = {
      accept: options.accept ?? "application/json",
      "user-agent": "atrest-encryption/0.1",
    };
    if (this.#creds.token !== undefined) headers["authorization"] = `Bearer ${this.#creds.token}`;
    if (body !== undefined) {
      headers["content-type"] = "application/json";
      headers["content-length"] = body.length;
    }
    return new Promise((resolve, reject) => {
      const req = https.request(
        url,
        { method, headers, agent: this.#agent, timeout: options.timeoutMs ?? 30_000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              text: Buffer.concat(chunks).toString("utf8"),
            }),
          );
          res.on("error", (err) =>
            reject(new AtrestError("unavailable", `${method} ${url.origin}: ${err.message}`, { cause: err })),
          );
        },
      );
      req.on("timeout", () =>
        req.destroy(
          new AtrestError("deadline-exceeded", `${method} ${url.origin}${url.pathname}: no answer in time`),
        ),
      );
      req.on("error", (err) =>
        reject(
          err instanceof AtrestError
            ? err
            : new AtrestError(
                "unavailable",
                `${method} ${url.origin}: cannot reach the apiserver: ${err.message}`,
                {
                  cause: err,
                  details: { url: url.origin },
                },
              ),
        ),
      );
      req.end(body);
    });
  }
}
