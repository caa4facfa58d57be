/**
 * A scanner bound to one store: what `atrest encryption` hands the operation engine for its verify gate
 * and its status counts (the engine defines the port, ClusterScanner in src/operations/verify.ts, and
 * never opens a store itself). Each scan opens the store, reads every value of the resources (through
 * a configuration's providers when one is given, plaintext dropped at once) and closes it again.
 */
import { buildEncryptionState } from "../encryption-config/build.js";
import { grpcKmsClients } from "../encryption-config/grpc-clients.js";
import type { EncryptionConfiguration } from "../encryption-config/types.js";
import { openStore, type StoreEndpoint } from "../storage/open-store.js";
import type { ScanReport } from "./report.js";
import { scanStore } from "./scan.js";

export interface StoreScanner {
  /** Scans the resources; with `readWith`, every value is read through that configuration. */
  scan(readWith?: { readonly config: EncryptionConfiguration; readonly hash: string }): Promise<ScanReport>;
}

export function storeScanner(options: {
  readonly endpoint: StoreEndpoint;
  readonly prefix: string;
  readonly resources: readonly string[];
}): StoreScanner {
  return {
    async scan(readWith) {
      const state =
        readWith === undefined
          ? undefined
          : await buildEncryptionState(readWith.config, {
              clients: grpcKmsClients,
              contentHash: readWith.hash,
              background: false,
            });
      let store;
      try {
        store = openStore(options.endpoint);
        return await scanStore(store, {
          prefix: options.prefix,
          resources: options.resources,
          ...(state === undefined ? {} : { verifier: state, configurationHash: readWith!.hash }),
        });
      } finally {
        state?.close();
        await store?.close();
      }
    },
  };
}
