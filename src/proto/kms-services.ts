import type * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { protoPath, type ProtoFile } from "./proto-files.js";

/**
 * How every KMS .proto is loaded (the same options scripts/proto-gen.mjs checks and the generated
 * types in src/generated/kms-wire.ts describe): field names exactly as the proto spells them
 * (`key_id`, not `keyId`), bytes as Buffer, enums as their names, missing fields filled with defaults.
 */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = Object.freeze({
  keepCase: true,
  bytes: Buffer,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});

const packages = new Map<ProtoFile, protoLoader.PackageDefinition>();

/** The @grpc/proto-loader package definition of one proto file (loaded once, then cached). */
export function loadPackageDefinition(file: ProtoFile): protoLoader.PackageDefinition {
  let definition = packages.get(file);
  if (definition === undefined) {
    definition = protoLoader.loadSync(protoPath(file), PROTO_LOADER_OPTIONS);
    packages.set(file, definition);
  }
  return definition;
}

function serviceDefinition(file: ProtoFile, name: string): grpc.ServiceDefinition {
  const entry = loadPackageDefinition(file)[name];
  if (entry === undefined || !("Status" in entry || "Version" in entry)) {
    throw new Error(`service ${name} missing from proto/${file}`);
  }
  return entry;
}

/**
 * `v2.KeyManagementService` (Status, Decrypt, Encrypt): pass to `grpc.Server.addService` with
 * handlers typed as `V2KeyManagementServiceHandlers` (src/generated/kms-wire.ts), or use its
 * method definitions (path, requestSerialize, responseDeserialize) in a client.
 */
export function kmsV2ServiceDefinition(): grpc.ServiceDefinition {
  return serviceDefinition("kmsV2", "v2.KeyManagementService");
}

/** `v1beta1.KeyManagementService` (Version, Decrypt, Encrypt), like kmsV2ServiceDefinition. */
export function kmsV1beta1ServiceDefinition(): grpc.ServiceDefinition {
  return serviceDefinition("kmsV1beta1", "v1beta1.KeyManagementService");
}

/** One method of a service definition, for `grpc.Client.makeUnaryRequest`. */
export function methodDefinition<Req, Res>(
  service: grpc.ServiceDefinition,
  name: string,
): grpc.MethodDefinition<Req, Res> {
  const method = service[name];
  if (method === undefined) throw new Error(`method ${name} missing from service definition`);
  return method as grpc.MethodDefinition<Req, Res>;
}
