/** The real KMS clients (gRPC over unix sockets, src/kms-plugin-client) behind the build's factory seam. */
import { createKmsV1Client, createKmsV2Client } from "../kms-plugin-client/index.js";
import type { KmsClientFactories } from "./build.js";

export const grpcKmsClients: KmsClientFactories = {
  createKmsV1Client: ({ endpoint, timeoutMs }) => createKmsV1Client({ endpoint, timeoutMs }),
  createKmsV2Client: ({ endpoint, timeoutMs }) => createKmsV2Client({ endpoint, timeoutMs }),
};
