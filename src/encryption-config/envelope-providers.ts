/** The real providers (src/envelope) behind the build's factory seam. */
import { AtrestError } from "../common/errors.js";
import { newAesCbcTransformer } from "../envelope/aescbc.js";
import { newAesGcmTransformer } from "../envelope/aesgcm.js";
import { IdentityProvider } from "../envelope/identity.js";
import { newKmsV1Transformer } from "../envelope/kms-v1.js";
import { PrefixChain } from "../envelope/prefix-chain.js";
import type { EnvelopeProvider } from "../envelope/provider.js";
import { newSecretboxTransformer } from "../envelope/secretbox.js";
import type { ProviderFactories } from "./build.js";

export const defaultProviderFactories: ProviderFactories<EnvelopeProvider> = {
  identity: () => new IdentityProvider(),
  aesgcm: (keys) => newAesGcmTransformer(keys),
  aescbc: (keys) => newAesCbcTransformer(keys),
  secretbox: (keys) => newSecretboxTransformer(keys),
  kmsV1: ({ name, service, cacheSize }) => newKmsV1Transformer({ providerName: name, service, cacheSize }),
  kmsV2: () => {
    throw new AtrestError("unimplemented", "KMS v2 providers are not wired yet");
  },
  chain: (providers) => new PrefixChain(providers),
  // kube-apiserver's identity "encrypt check" transformer for resources no rule names.
  fallback: () => new IdentityProvider(),
};
