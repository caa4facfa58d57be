import type { Clock } from "../common/clock.js";
import type { Logger } from "../common/logger.js";
import { readTlsFiles } from "../common/tls.js";
import { IdentityApi, startIdentityServer, type IdentityServer, type StsOptions } from "../iam/index.js";
import { kmsPaths } from "./kms-files.js";
import type { KmsServer } from "./server.js";

/**
 * The identity APIs (STS, RAM, ActionTrail LookupEvents over this KMS's audit trail and the trail
 * table) for a running KMS: the same identity store and database, answered on an endpoint of their
 * own with the KMS's TLS certificate. `atrest kms serve --identity-listen` and `atrest up` start it;
 * the control plane mounts the same IdentityApi in its own server instead (src/iam/http).
 */
export function identityApiFor(
  kms: KmsServer,
  options: { sts?: StsOptions; clock?: Clock; logger?: Logger } = {},
) {
  return new IdentityApi({
    identity: kms.identity,
    idb: kms.idb,
    region: kms.region,
    extraEventSources: [kms.eventSource],
    ...(options.sts === undefined ? {} : { sts: options.sts }),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
}

export async function startKmsIdentityEndpoint(
  kms: KmsServer,
  options: {
    dataDir: string;
    host?: string;
    port?: number;
    sts?: StsOptions;
    clock?: Clock;
    logger?: Logger;
  },
): Promise<IdentityServer> {
  const paths = kmsPaths(options.dataDir);
  const tls =
    kms.caCertPem === undefined
      ? undefined
      : readTlsFiles({
          caCertFile: paths.caCert,
          certFile: `${paths.tlsDir}/tls.crt`,
          keyFile: `${paths.tlsDir}/tls.key`,
        });
  return startIdentityServer({
    api: identityApiFor(kms, options),
    ...(options.host === undefined ? {} : { host: options.host }),
    ...(options.port === undefined ? {} : { port: options.port }),
    ...(tls === undefined ? {} : { tls: { keyPem: tls.keyPem, certPem: tls.certPem } }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
}
