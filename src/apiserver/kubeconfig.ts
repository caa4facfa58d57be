import { writeFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import YAML from "yaml";

/** An admin kubeconfig: the server URL, the CA that signed its certificate, a bearer token. */
export function renderKubeconfig(options: {
  server: string;
  caCertPem: string;
  token: string;
  name?: string;
}): string {
  const name = options.name ?? "atrest";
  return YAML.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name,
        cluster: {
          server: options.server,
          "certificate-authority-data": Buffer.from(options.caCertPem).toString("base64"),
        },
      },
    ],
    users: [{ name: `${name}-admin`, user: { token: options.token } }],
    contexts: [{ name, context: { cluster: name, user: `${name}-admin` } }],
    "current-context": name,
  });
}

export function writeKubeconfig(
  path: string,
  options: { server: string; caCertPem: string; token: string; name?: string },
): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, renderKubeconfig(options), { mode: 0o600 });
}
