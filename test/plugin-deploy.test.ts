/** deploy/ stays consistent: the files parse, and they agree on the socket and the health port. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml, parseAllDocuments } from "yaml";
import { loadEncryptionConfigurationFile } from "../src/encryption-config/load.js";
import { readConfigFile } from "../src/plugin/options.js";
import { repoRoot } from "./support/cli.js";

const deploy = (name: string) => join(repoRoot, "deploy", name);

describe("deploy/", () => {
  it("the EncryptionConfiguration is valid and points at the plugin's socket with KMS v2", async () => {
    const { config } = await loadEncryptionConfigurationFile(deploy("encryption-config.yaml"), {
      reload: true,
    });
    const kms = config.resources[0]?.providers[0];
    assert.ok(kms?.type === "kms", "first provider is kms");
    assert.equal(kms.apiVersion, "v2");
    assert.equal(kms.name, "atrest");
    assert.equal(config.resources[0]?.providers[1]?.type, "identity");
    const plugin = readConfigFile(deploy("plugin-config.yaml"));
    assert.equal(kms.endpoint, plugin.listen);
  });

  it("the static pod mounts the socket dir and probes /livez for liveness, /healthz only for readiness", () => {
    const pod = parseYaml(readFileSync(deploy("atrest-kms-plugin.yaml"), "utf8")) as {
      spec: {
        containers: Array<{
          livenessProbe: { httpGet: { path: string; port: number } };
          readinessProbe: { httpGet: { path: string } };
          volumeMounts: Array<{ mountPath: string }>;
        }>;
        volumes: Array<{ hostPath?: { path: string } }>;
      };
    };
    const container = pod.spec.containers[0]!;
    assert.equal(container.livenessProbe.httpGet.path, "/livez");
    assert.equal(container.readinessProbe.httpGet.path, "/healthz");
    const plugin = readConfigFile(deploy("plugin-config.yaml"));
    assert.equal(plugin["health-listen"], `127.0.0.1:${container.livenessProbe.httpGet.port}`);
    const socketDir = plugin.listen!.replace("unix://", "").replace(/\/[^/]+$/, "");
    assert.ok(container.volumeMounts.some((m) => m.mountPath === socketDir));
    assert.ok(pod.spec.volumes.some((v) => v.hostPath?.path === socketDir));
  });

  it("the kube-apiserver fragment sets the config flag and mounts the socket dir", () => {
    type ClusterConfiguration = {
      apiServer: {
        extraArgs: Array<{ name: string; value: string }>;
        extraVolumes: Array<{ hostPath: string; mountPath: string }>;
      };
    };
    const [cluster] = parseAllDocuments(readFileSync(deploy("kube-apiserver-patch.yaml"), "utf8")).map(
      (d) => d.toJS() as ClusterConfiguration,
    );
    const args = cluster!.apiServer.extraArgs;
    assert.ok(
      args.some(
        (a) =>
          a.name === "encryption-provider-config" && a.value === "/etc/kubernetes/enc/encryption-config.yaml",
      ),
    );
    const volumes = cluster!.apiServer.extraVolumes;
    assert.ok(volumes.some((v) => v.hostPath === "/var/run/atrest" && v.mountPath === "/var/run/atrest"));
  });
});
