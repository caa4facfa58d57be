/**
 * The KMS plugin's cost over talking to the KMS directly, each part in its own process as deployed:
 * atrest kms (`atrest kms serve`, HTTPS), the plugin (`atrest plugin`, unix socket), and this process
 * acting as kube-apiserver (the at-rest core's gRPC client). Encrypt/Decrypt of 32-byte plaintexts
 * (the seeds kube-apiserver sends) go either directly to the KMS through the Alibaba SDK from this
 * process, or through the plugin; rounds alternate, at concurrency 1 (latency) and 8 (throughput).
 * Then Status is polled 1,000 times and the plugin's KMS requests are counted from its /metrics, and a
 * bare grpc-js echo between two processes gives the floor any Node plugin pays for the hop.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { initKmsDataDir } from "../src/kms/init.js";
import { createKmsV2Client } from "../src/kms-plugin-client/index.js";
import { AtrestKmsSdkClient, SdkConfig, kmsSdk, sdkRuntime } from "../src/plugin/alibaba-sdk-client.js";
import { measureGrpcFloor, type GrpcFloor } from "./support-grpc-floor.js";
import { processCpuMs } from "./support-process-cpu.js";

const ROUND_MS = 2_000;
const ROUNDS = 2;
const STATUS_POLLS = 1_000;
const main = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));

interface Measured {
  perSec: number;
  calls: number;
  /** CPU of this process (the caller), of the plugin process and of the KMS process during the round, in ms. */
  callerCpuMs: number;
  pluginCpuMs: number;
  kmsCpuMs: number;
}

/** The processes whose CPU a round reads from /proc. */
interface Pids {
  plugin: number | undefined;
  kms: number | undefined;
}

async function rate(
  op: () => Promise<unknown>,
  concurrency: number,
  durationMs: number,
  pids: Pids = { plugin: undefined, kms: undefined },
): Promise<Measured> {
  let calls = 0;
  const until = performance.now() + durationMs;
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  const plugin0 = processCpuMs(pids.plugin);
  const kms0 = processCpuMs(pids.kms);
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        await op();
        calls++;
      }
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  return {
    perSec: calls / ((performance.now() - started) / 1000),
    calls,
    callerCpuMs: (cpu.user + cpu.system) / 1000,
    pluginCpuMs: processCpuMs(pids.plugin) - plugin0,
    kmsCpuMs: processCpuMs(pids.kms) - kms0,
  };
}

interface Comparison {
  concurrency: number;
  directPerSec: number;
  pluginPerSec: number;
  overheadPercent: number;
  /** CPU per call outside the KMS: direct = the caller's SDK work; plugin = gRPC client + plugin process. */
  cpuMsPerCall: { direct: number; plugin: number };
  /** CPU per call of the KMS process, for each path. */
  kmsCpuMsPerCall: { direct: number; plugin: number };
}

async function compare(
  direct: () => Promise<unknown>,
  viaPlugin: () => Promise<unknown>,
  concurrency: number,
  pids: Pids,
): Promise<Comparison> {
  await rate(direct, concurrency, 300); // warm-up: connections, JIT
  await rate(viaPlugin, concurrency, 300);
  const d: Measured[] = [];
  const p: Measured[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    d.push(await rate(direct, concurrency, ROUND_MS, pids));
    p.push(await rate(viaPlugin, concurrency, ROUND_MS, pids));
  }
  const sum = (xs: Measured[], f: (m: Measured) => number) => xs.reduce((a, m) => a + f(m), 0);
  const directPerSec = sum(d, (m) => m.perSec) / ROUNDS;
  const pluginPerSec = sum(p, (m) => m.perSec) / ROUNDS;
  const round2 = (x: number) => Math.round(x * 100) / 100;
  return {
    concurrency,
    directPerSec: Math.round(directPerSec),
    pluginPerSec: Math.round(pluginPerSec),
    overheadPercent: Math.round(((directPerSec - pluginPerSec) / directPerSec) * 1000) / 10,
    cpuMsPerCall: {
      direct: round2(sum(d, (m) => m.callerCpuMs) / sum(d, (m) => m.calls)),
      plugin: round2(sum(p, (m) => m.callerCpuMs + m.pluginCpuMs) / sum(p, (m) => m.calls)),
    },
    kmsCpuMsPerCall: {
      direct: round2(sum(d, (m) => m.kmsCpuMs) / sum(d, (m) => m.calls)),
      plugin: round2(sum(p, (m) => m.kmsCpuMs) / sum(p, (m) => m.calls)),
    },
  };
}

/**
 * The overhead a plugin that did nothing but the gRPC hop would show. At concurrency 1 calls are
 * latency-bound: the hop's round trip is added to the direct call's. Under concurrency the two cores are
 * the limit: the hop's CPU (both ends) is added to the direct path's (caller + KMS).
 */
function hopOnlyOverheadPercent(c: Comparison, floor: GrpcFloor): number {
  const added =
    c.concurrency === 1
      ? 1 / floor.callsPerSec / (1 / c.directPerSec + 1 / floor.callsPerSec)
      : (floor.clientCpuUsPerCall + floor.serverCpuUsPerCall) /
        (1000 * (c.cpuMsPerCall.direct + c.kmsCpuMsPerCall.direct) +
          floor.clientCpuUsPerCall +
          floor.serverCpuUsPerCall);
  return Math.round(added * 1000) / 10;
}

/** Starts `atrest ARGS` and resolves with the first stdout match of `pattern`. */
function startCli(args: string[], pattern: RegExp): { child: ChildProcess; ready: Promise<string> } {
  const child = spawn(process.execPath, ["--import", "tsx", main, ...args], {
    stdio: ["ignore", "pipe", "ignore"],
    env: { ...process.env, ATREST_LOG_LEVEL: "info" },
  });
  const ready = new Promise<string>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`atrest ${args[0]} did not start`)), 60_000);
    child.stdout?.on("data", (c: Buffer) => {
      out += c.toString();
      const m = pattern.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once("exit", (code) => reject(new Error(`atrest ${args[0]} exited with ${code}`)));
  });
  return { child, ready };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
}

async function pluginKmsCalls(healthUrl: string): Promise<number> {
  const text = await (await fetch(`${healthUrl}/metrics`)).text();
  let total = 0;
  for (const m of text.matchAll(/^atrest_plugin_kms_request_duration_seconds_count\{[^}]*\} (\d+)/gm))
    total += Number(m[1]);
  return total;
}

export async function run(): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), "atrest-bench-plugin-"));
  const dataDir = join(dir, "kms");
  const children: ChildProcess[] = [];
  try {
    const init = await initKmsDataDir({ dataDir, accountId: "1234567890123456" });
    const kms = startCli(
      ["kms", "serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0"],
      /"url":"([^"]+)"/,
    );
    children.push(kms.child);
    const url = await kms.ready;
    const creds = JSON.parse(readFileSync(init.credentialsFile, "utf8")) as {
      accessKeyId: string;
      accessKeySecret: string;
    };
    const caPem = readFileSync(init.caCertFile, "utf8");
    const sdk = new AtrestKmsSdkClient(
      new SdkConfig({ ...creds, endpoint: new URL(url).host, regionId: "cn-hangzhou", protocol: "https" }),
      caPem,
    );
    // The same per-call options the plugin uses (timeouts, the uid header).
    const runtime = () =>
      sdkRuntime({
        readTimeoutMs: 10_000,
        connectTimeoutMs: 2_000,
        headers: { "x-atrest-uid": "bench" },
      }) as never;
    const keyId = (await sdk.createKeyEx(new kmsSdk.CreateKeyRequest({}), runtime())).keyMetadata.keyId;

    const socket = join(dir, "kms.sock");
    writeFileSync(
      join(dir, "plugin.json"),
      JSON.stringify({
        listen: `unix://${socket}`,
        "kms-endpoint": url,
        "key-id": keyId,
        "credentials-file": init.credentialsFile,
        "ca-file": init.caCertFile,
        "health-listen": "127.0.0.1:0",
      }),
    );
    const plugin = startCli(["plugin", "--config", join(dir, "plugin.json")], /health on (http:\/\/\S+)/);
    children.push(plugin.child);
    const healthUrl = await plugin.ready;
    const client = createKmsV2Client({ endpoint: `unix://${socket}`, timeoutMs: 10_000 });
    try {
      for (let i = 0; i < 100 && (await fetch(`${healthUrl}/healthz`)).status !== 200; i++)
        await new Promise((r) => setTimeout(r, 100));
      const seed = Buffer.alloc(32, 5);
      const sealedDirect = await sdk.encryptEx(
        new kmsSdk.EncryptRequest({ keyId, plaintext: seed.toString("base64") }),
        runtime(),
      );
      const sealed = await client.encrypt(seed);
      const directEncrypt = () =>
        sdk.encryptEx(new kmsSdk.EncryptRequest({ keyId, plaintext: seed.toString("base64") }), runtime());
      const pluginEncrypt = () => client.encrypt(seed);
      const directDecrypt = () =>
        sdk.decryptEx(new kmsSdk.DecryptRequest({ ciphertextBlob: sealedDirect.ciphertextBlob }), runtime());
      const pluginDecrypt = () =>
        client.decrypt({
          ciphertext: sealed.ciphertext,
          keyId: sealed.keyId,
          annotations: sealed.annotations,
        });

      const pids = { plugin: plugin.child.pid, kms: kms.child.pid };
      const encrypt = [
        await compare(directEncrypt, pluginEncrypt, 1, pids),
        await compare(directEncrypt, pluginEncrypt, 8, pids),
      ];
      const decrypt = [
        await compare(directDecrypt, pluginDecrypt, 1, pids),
        await compare(directDecrypt, pluginDecrypt, 8, pids),
      ];
      const floor = await measureGrpcFloor(dir, [1, 8], ROUND_MS, 64);
      const floorAt = (c: Comparison): GrpcFloor => floor.find((f) => f.concurrency === c.concurrency)!;

      const callsBefore = await pluginKmsCalls(healthUrl);
      const pollStarted = performance.now();
      for (let i = 0; i < STATUS_POLLS; i++) await client.status();
      const pollMs = performance.now() - pollStarted;
      const kmsCallsDuringPolls = (await pluginKmsCalls(healthUrl)) - callsBefore;
      return {
        loadAverage: loadavg().map((x) => Math.round(x * 10) / 10),
        cpus: cpus().length,
        plaintextBytes: seed.length,
        encrypt,
        decrypt,
        // A bare grpc-js echo between two Node processes on this machine, and the overhead a plugin doing
        // nothing but that hop would show beside the direct calls above: the floor under overheadPercent.
        grpcHopFloor: floor,
        hopOnlyOverheadPercent: {
          encrypt: encrypt.map((c) => ({
            concurrency: c.concurrency,
            percent: hopOnlyOverheadPercent(c, floorAt(c)),
          })),
          decrypt: decrypt.map((c) => ({
            concurrency: c.concurrency,
            percent: hopOnlyOverheadPercent(c, floorAt(c)),
          })),
        },
        // At concurrency 1, what the plugin adds per call, beside the bare cost of one gRPC round trip to
        // it (a Status answered from cache): when the two are close, the plugin's own work is negligible
        // and the overhead is the extra process hop.
        addedLatencyMs: {
          encrypt:
            Math.round((1000 / encrypt[0]!.pluginPerSec - 1000 / encrypt[0]!.directPerSec) * 100) / 100,
          decrypt:
            Math.round((1000 / decrypt[0]!.pluginPerSec - 1000 / decrypt[0]!.directPerSec) * 100) / 100,
          statusRoundTrip: Math.round((pollMs / STATUS_POLLS) * 100) / 100,
        },
        status: {
          polls: STATUS_POLLS,
          pollDurationMs: Math.round(pollMs),
          statusPerSec: Math.round(STATUS_POLLS / (pollMs / 1000)),
          statusRefreshMs: 60_000,
          kmsCallsDuringPolls,
          maxKmsCallsAllowed: 2 * (Math.floor(pollMs / 60_000) + 1),
        },
        goal: "overheadPercent <= 20 (plugin vs direct SDK call); Status costs <= one Encrypt+Decrypt check per refresh interval",
      };
    } finally {
      client.close();
    }
  } finally {
    for (const child of children.reverse()) await stop(child);
    rmSync(dir, { recursive: true, force: true });
  }
}
