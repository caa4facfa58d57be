/**
 * `--listen` addresses: `unix:///path/kms.sock` (a socket file) or `unix:///@name` (a Linux abstract
 * socket, which has no file), as kube-apiserver's `endpoint` spells them.
 */
import { connect } from "node:net";
import { lstatSync, unlinkSync } from "node:fs";
import { isAbsolute } from "node:path";
import { AtrestError } from "./errors.js";
import { parseKmsEndpoint } from "./kms-endpoint.js";

export type ListenAddress =
  | { readonly kind: "file"; readonly path: string; readonly grpcTarget: string; readonly display: string }
  | {
      readonly kind: "abstract";
      readonly name: string;
      readonly grpcTarget: string;
      readonly display: string;
    };

/** Parsed exactly as the apiserver's client parses its `endpoint` (src/common/kms-endpoint.ts). */
export function parseListenAddress(value: string): ListenAddress {
  let endpoint;
  try {
    endpoint = parseKmsEndpoint(value);
  } catch (cause) {
    throw new AtrestError(
      "invalid-argument",
      `--listen ${JSON.stringify(value)}: expected unix:///path/to/kms.sock or unix:///@abstract-name`,
      { cause },
    );
  }
  if (endpoint.kind === "abstract") {
    return { kind: "abstract", name: endpoint.address, grpcTarget: endpoint.grpcTarget, display: value };
  }
  if (!isAbsolute(endpoint.address) || Buffer.byteLength(endpoint.address) > 107) {
    throw new AtrestError(
      "invalid-argument",
      "--listen: the socket path must be absolute and at most 107 bytes",
    );
  }
  return { kind: "file", path: endpoint.address, grpcTarget: endpoint.grpcTarget, display: value };
}

/**
 * Removes a stale socket file left by a previous run. Refuses to remove anything that is not a socket,
 * or a socket another process still answers on.
 */
export async function removeStaleSocket(path: string): Promise<void> {
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    return;
  }
  if (!stat.isSocket())
    throw new AtrestError(
      "failed-precondition",
      `--listen ${path} exists and is not a socket; refusing to replace it`,
    );
  const live = await new Promise<boolean>((resolve) => {
    const socket = connect(path);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
  if (live)
    throw new AtrestError("failed-precondition", `another process is serving on ${path}; stop it first`);
  unlinkSync(path);
}
