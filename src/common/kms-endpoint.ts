import { AtrestError } from "./errors.js";

/** A KMS plugin endpoint as kube-apiserver reads it from EncryptionConfiguration. */
export interface KmsEndpoint {
  /** The configured string, e.g. `unix:///var/run/kms.sock` or `unix:///@kms`. */
  readonly endpoint: string;
  /** "path": a socket file; "abstract": a Linux abstract socket (no file, no file permissions). */
  readonly kind: "path" | "abstract";
  /** The socket file path, or the abstract socket's name without the leading `@`. */
  readonly address: string;
  /** The target string for @grpc/grpc-js. */
  readonly grpcTarget: string;
}

/**
 * Parses `unix:///path/to.sock` (an absolute socket path) and `unix:///@name` (a Linux abstract
 * socket), as kube-apiserver does: only the `unix` scheme, the URL path (percent-decoded) is the address.
 */
export function parseKmsEndpoint(endpoint: string): KmsEndpoint {
  const invalid = (why: string): AtrestError =>
    new AtrestError("invalid-argument", `invalid KMS plugin endpoint ${JSON.stringify(endpoint)}: ${why}`, {
      details: { endpoint },
    });
  if (endpoint.length === 0) throw invalid("must not be empty");
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw invalid("not a URL; use unix:///path/to/kms.sock or unix:///@abstract-name");
  }
  if (url.protocol !== "unix:")
    throw invalid(`unsupported scheme ${JSON.stringify(url.protocol.slice(0, -1))}; only unix is supported`);
  if (url.host !== "") throw invalid("must have an empty host: unix:///path (three slashes)");
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    throw invalid("bad percent-encoding in the path");
  }
  if (path.includes("\0")) throw invalid("path must not contain NUL");
  if (path.startsWith("/@")) {
    const name = path.slice(2);
    if (name.length === 0) throw invalid("abstract socket name is empty");
    // grpc-js has no `unix-abstract:` scheme; node's net module binds/connects a path that starts
    // with NUL to the Linux abstract namespace, and grpc-js passes the path through unchanged.
    return { endpoint, kind: "abstract", address: name, grpcTarget: `unix:\0${name}` };
  }
  if (path === "/" || path.length === 0) throw invalid("socket path is empty");
  return { endpoint, kind: "path", address: path, grpcTarget: `unix:${path}` };
}
