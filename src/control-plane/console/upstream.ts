import { LRUCache } from "lru-cache";
import { KmsClient } from "../../kms/client/index.js";
import type { ConsoleCredentials } from "./session-store.js";

/** The RPC APIs the console calls for its user, each at its own version on its endpoint. */
export const API_VERSIONS = {
  kms: "2016-01-20",
  sts: "2015-04-01",
  ram: "2015-05-01",
  actiontrail: "2020-07-06",
} as const;

export type UpstreamApi = keyof typeof API_VERSIONS;

export interface UpstreamEndpoints {
  /** atrest kms (or Alibaba Cloud KMS). */
  readonly kmsEndpoint: string;
  /** STS, RAM and ActionTrail on one RPC endpoint (atrest's identity endpoint). */
  readonly identityEndpoint: string;
  readonly regionId: string;
  /** A private CA both endpoints' certificates chain to. */
  readonly caPem?: string;
  readonly timeoutMs?: number;
}

/**
 * Calls the services as the signed-in principal: every request is signed with the session's own
 * credentials, so each service authenticates and authorizes it exactly as it would the same call from
 * an SDK — the console adds no permission and bypasses no check.
 */
export class Upstream {
  readonly #kms: KmsClient;
  readonly #identity: KmsClient;

  constructor(endpoints: UpstreamEndpoints, credentials: ConsoleCredentials) {
    const common = {
      regionId: endpoints.regionId,
      accessKeyId: credentials.accessKeyId,
      accessKeySecret: credentials.accessKeySecret,
      timeoutMs: endpoints.timeoutMs ?? 15_000,
      ...(credentials.securityToken === undefined ? {} : { securityToken: credentials.securityToken }),
      ...(endpoints.caPem === undefined ? {} : { caPem: endpoints.caPem }),
    };
    this.#kms = new KmsClient({ endpoint: endpoints.kmsEndpoint, ...common });
    this.#identity = new KmsClient({ endpoint: endpoints.identityEndpoint, ...common });
  }

  call(
    api: UpstreamApi,
    action: string,
    params: Readonly<Record<string, string | number | boolean | undefined>> = {},
  ): Promise<Record<string, unknown>> {
    const client = api === "kms" ? this.#kms : this.#identity;
    return client.call(action, params, { version: API_VERSIONS[api] });
  }

  close(): void {
    this.#kms.close();
    this.#identity.close();
  }
}

/**
 * One Upstream per live session, so a page's calls reuse its keep-alive TLS connections instead of a
 * handshake per call; a session that ends (sign-out, idle, evicted) closes its clients.
 */
export class UpstreamPool {
  readonly #clients: LRUCache<string, Upstream>;

  constructor(
    readonly endpoints: UpstreamEndpoints,
    options: { max: number; idleMs: number },
  ) {
    this.#clients = new LRUCache({
      max: options.max,
      ttl: options.idleMs,
      updateAgeOnGet: true,
      dispose: (u) => u.close(),
    });
  }

  for(sessionId: string, credentials: ConsoleCredentials): Upstream {
    let u = this.#clients.get(sessionId);
    if (u === undefined) {
      u = new Upstream(this.endpoints, credentials);
      this.#clients.set(sessionId, u);
    }
    return u;
  }

  end(sessionId: string): void {
    this.#clients.delete(sessionId);
  }

  closeAll(): void {
    this.#clients.clear();
  }
}
