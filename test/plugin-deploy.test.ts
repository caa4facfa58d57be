/**
 * deploy/ stays consistent: the files parse, and they agree on the socket and the health port; the
 * Dockerfile builds the image the static pod names and runs what it expects (a static check: no docker).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml, parseAllDocuments } from "yaml";
import { loadEncryptionConfigurationFile } from "../src/encryption-config/load.js";
import { readConfigFile } from "../src/plugin/options.js";
import { repoRoot, runAtrest } from "./support/cli.js";

const deploy = (name: string) => join(repoRoot, "deploy", name);

interface Instruction {
  readonly op: string;
  readonly args: string;
}
interface Stage {
  readonly from: string;
  readonly name?: string;
  readonly instructions: Instruction[];
}

/**
 * Dockerfile instructions by stage (comments dropped, `\` continuations joined, global ARGs expanded);
 * a stage's `from` is its base image, also when it starts FROM an earlier stage.
 */
function parseDockerfile(text: string): Stage[] {
  const lines: string[] = [];
  let pending = "";
  for (const raw of text.split("\n")) {
    if (/^\s*#/.test(raw)) continue;
    const continued = /\\\s*$/.test(raw);
    pending += (pending ? " " : "") + raw.replace(/\\\s*$/, "").trim();
    if (continued) continue;
    if (pending.trim() !== "") lines.push(pending.trim());
    pending = "";
  }
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of lines) {
    const [, op = "", args = ""] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const upper = op.toUpperCase();
    if (upper === "FROM") {
      const [image = "", , name] = args
        .replace(/\$\{(\w+)\}/g, (_m, v: string) => globalArgs.get(v) ?? "")
        .split(/\s+/);
      // FROM an earlier stage: its base image.
      const from = stages.find((st) => st.name === image)?.from ?? image;
      stages.push({ from, ...(name ? { name } : {}), instructions: [] });
    } else if (stages.length === 0 && upper === "ARG") {
      const [k = "", v = ""] = args.split("=");
      globalArgs.set(k, v);
    } else {
      stages.at(-1)?.instructions.push({ op: upper, args });
    }
  }
  return stages;
}

/** An exec-form (JSON array) ENTRYPOINT or CMD; the shell form would not pass SIGTERM to node. */
function execForm(stage: Stage, op: "ENTRYPOINT" | "CMD"): string[] {
  const found = stage.instructions.filter((i) => i.op === op).at(-1);
  assert.ok(found, `the final stage has a ${op}`);
  const parsed: unknown = JSON.parse(found.args);
  assert.ok(Array.isArray(parsed) && parsed.every((a) => typeof a === "string"), `${op} is exec form`);
  return parsed;
}

interface PodContainer {
  image: string;
  command?: string[];
  args?: string[];
  livenessProbe: { httpGet: { path: string; port: number } };
  readinessProbe: { httpGet: { path: string; port: number } };
  volumeMounts: Array<{ name: string; mountPath: string }>;
}
interface Pod {
  spec: {
    containers: PodContainer[];
    volumes: Array<{ name: string; hostPath?: { path: string } }>;
  };
}
const readPod = () => parseYaml(readFileSync(deploy("atrest-kms-plugin.yaml"), "utf8")) as Pod;

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
    const pod = readPod();
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

  it("the Dockerfile builds the image the static pod runs: entrypoint, image name, socket dir, health port", async () => {
    const stages = parseDockerfile(readFileSync(deploy("Dockerfile"), "utf8"));
    const final = stages.at(-1)!;
    assert.equal(final.from, "node:20-bookworm-slim", "runtime base image");
    for (const stage of stages) assert.equal(stage.from.split(":")[0], "node", `stage ${stage.name ?? "?"}`);
    const runs = stages.flatMap((st) => st.instructions.filter((i) => i.op === "RUN").map((i) => i.args));
    assert.ok(
      runs.some((r) => /\bnpm ci\b.*--omit=dev/.test(r)),
      "production dependencies via npm ci --omit=dev",
    );
    assert.ok(
      runs.some((r) => r.includes("npm run build")),
      "src/ compiled to dist/",
    );

    // Everything the Dockerfile copies from the context is in the repository.
    const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
      version: string;
      bin: Record<string, string>;
      scripts: Record<string, string>;
    };
    assert.ok(pkg.scripts["build"], "package.json has a build script");
    for (const stage of stages) {
      for (const copy of stage.instructions.filter((i) => i.op === "COPY" && !i.args.startsWith("--from"))) {
        const sources = copy.args.split(/\s+/).slice(0, -1);
        for (const src of sources)
          assert.ok(existsSync(join(repoRoot, src)), `COPY ${src}: in the repository`);
      }
    }
    const finalRuns = final.instructions.filter((i) => i.op === "RUN").map((i) => i.args);
    // `npm ci --omit=dev` leaves out what the lockfile has only through dev tools; the Alibaba SDK's
    // @alicloud/credentials requires `debug` without declaring it, so package.json declares it.
    const lock = JSON.parse(readFileSync(join(repoRoot, "package-lock.json"), "utf8")) as {
      packages: Record<string, { dev?: boolean }>;
    };
    assert.notEqual(lock.packages["node_modules/debug"]?.dev, true, "`debug` is a runtime dependency");
    assert.ok(
      finalRuns.some((r) => r.includes("atrest plugin --help")),
      "the build loads the CLI once, so a missing runtime module fails the build",
    );

    // `atrest` on PATH is the package's bin, and the entrypoint runs its `plugin` command.
    const entrypoint = execForm(final, "ENTRYPOINT");
    const cmd = execForm(final, "CMD");
    assert.deepEqual(entrypoint, ["atrest", "plugin"]);
    assert.ok(
      finalRuns.some((r) =>
        r.includes(`ln -s /opt/atrest/${pkg.bin["atrest"]!.replace(/^\.\//, "")} /usr/local/bin/atrest`),
      ),
      "atrest is linked onto PATH",
    );
    assert.ok(final.instructions.some((i) => i.op === "WORKDIR" && i.args === "/opt/atrest"));

    // The static pod: that image, no command (so the entrypoint runs), the same --config as the image.
    const container = readPod().spec.containers[0]!;
    const image = `registry.example.com/atrest:${pkg.version}`;
    assert.equal(container.image, image, "the manifest names the version in package.json");
    assert.ok(
      container.command === undefined || JSON.stringify(container.command) === JSON.stringify(entrypoint),
      "the manifest keeps the image's entrypoint",
    );
    const args = container.args ?? cmd;
    assert.deepEqual(args, cmd, "the manifest passes the image's default arguments");
    const configFile = args[args.indexOf("--config") + 1]!;
    assert.equal(configFile, "/etc/atrest/plugin.yaml");
    const configMount = container.volumeMounts.find((m) => configFile.startsWith(`${m.mountPath}/`));
    assert.ok(configMount, `${configFile} is on a mounted volume`);

    // The README's build command tags exactly that image, with this Dockerfile.
    const readme = readFileSync(deploy("README.md"), "utf8");
    assert.ok(readme.includes(`docker build -f deploy/Dockerfile -t ${image} .`), "README build command");
    assert.ok(readFileSync(deploy("Dockerfile"), "utf8").includes(`-t ${image} .`), "Dockerfile header");

    // Socket dir and health port: the config the pod reads, the image, the probes and the mounts agree.
    const plugin = readConfigFile(deploy("plugin-config.yaml"));
    const socketDir = plugin.listen!.replace("unix://", "").replace(/\/[^/]+$/, "");
    assert.ok(
      finalRuns.some((r) => r.includes(socketDir)),
      `the image creates ${socketDir}`,
    );
    assert.ok(container.volumeMounts.some((m) => m.mountPath === socketDir));
    const healthPort = Number(plugin["health-listen"]!.split(":").at(-1));
    const exposed = final.instructions.filter((i) => i.op === "EXPOSE").flatMap((i) => i.args.split(/\s+/));
    assert.deepEqual(exposed, [String(healthPort)], "EXPOSE is the health port");
    assert.equal(container.livenessProbe.httpGet.port, healthPort);
    assert.equal(container.readinessProbe.httpGet.port, healthPort);

    // The command line the image runs is one `atrest plugin` accepts.
    const help = await runAtrest([...entrypoint.slice(1), "--help"], { timeoutMs: 30_000 });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /--config/);
  });
});
