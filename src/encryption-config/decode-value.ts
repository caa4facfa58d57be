/**
 * Reads one stored value the way the apiserver would: the transformer of the resource the storage key
 * belongs to, AAD = the storage key. What `atrest decode` prints, and what recovery tooling builds on.
 */
import { AtrestError, isAtrestError } from "../common/errors.js";
import { contextForKey, type ValueOrigin } from "../envelope/transformer.js";
import type { EncryptionState } from "./encryption-state.js";
import { resourceFromStorageKey } from "./storage-key.js";

export interface DecodedValue {
  readonly resource: string;
  readonly origin: ValueOrigin;
  readonly stale: boolean;
  /** The object bytes. Secret: never log them. */
  readonly plaintext: Buffer;
}

const KMS_PREFIX = /^k8s:enc:kms:(v1|v2):([^:]+):/;

export async function decodeStoredValue(
  state: EncryptionState,
  storageKey: string,
  value: Uint8Array,
  options: { resource?: string } = {},
): Promise<DecodedValue> {
  const resource = options.resource ?? resourceFromStorageKey(storageKey);
  const transformer = state.transformerFor(resource);
  try {
    const result = await transformer.transformFromStorage(value, contextForKey(storageKey));
    return { resource, origin: result.origin, stale: result.stale, plaintext: result.plaintext };
  } catch (err) {
    throw (await pluginProblem(state, value)) ?? err;
  }
}

/** When a KMS value could not be read and its plugin is unhealthy, the plugin is the clearer story. */
async function pluginProblem(state: EncryptionState, value: Uint8Array): Promise<AtrestError | undefined> {
  const head = Buffer.from(value.subarray(0, 300)).toString("latin1");
  const m = KMS_PREFIX.exec(head);
  if (m === null) return undefined;
  for (const p of state.kmsProviders) {
    if (p.name !== m[2] || p.apiVersion !== m[1]) continue;
    try {
      await p.check.check();
    } catch (err) {
      if (isAtrestError(err))
        return new AtrestError(err.code, `KMS plugin unreachable or unhealthy: ${err.message}`, {
          cause: err,
        });
      return new AtrestError("unavailable", `KMS plugin unreachable or unhealthy: ${String(err)}`, {
        cause: err,
      });
    }
  }
  return undefined;
}

/** The JSON `atrest decode` prints; fields that do not apply are absent. */
export function decodedValueJson(decoded: DecodedValue, includePlaintext: boolean): Record<string, unknown> {
  const o = decoded.origin;
  return {
    provider: o.provider,
    ...(o.kmsApiVersion === undefined ? {} : { kmsApiVersion: o.kmsApiVersion }),
    ...(o.providerName === undefined ? {} : { providerName: o.providerName }),
    ...(o.keyName === undefined ? {} : { keyName: o.keyName }),
    ...(o.keyId === undefined ? {} : { keyId: o.keyId }),
    ...(o.dekSourceType === undefined ? {} : { dekSourceType: o.dekSourceType }),
    stale: decoded.stale,
    ...(includePlaintext ? { plaintextBase64: decoded.plaintext.toString("base64") } : {}),
  };
}
