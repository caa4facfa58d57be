/**
 * The least a gRPC hop between two Node processes costs on this machine: a grpc-js unary echo over a
 * unix socket, no plugin code at all, measured with the CPU of both processes. The plugin bench prints it
 * beside the plugin so that its overhead can be split into the hop (unavoidable for any plugin in Node)
 * and the plugin's own work.
 */
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { processCpuMs } from "./support-process-cpu.js";

const SERVER_SOURCE = `
const grpc = require(process.argv[1]);
const socket = process.argv[2];
const id = (b) => b;
const server = new grpc.Server();
server.addService(
  { Echo: { path: "/floor.Echo/Echo", requestStream: false, responseStream: false,
      requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id } },
  { Echo: (call, callback) => callback(null, call.request) },
);
server.bindAsync("unix://" + socket, grpc.ServerCredentials.createInsecure(), (err) => {
  if (err) { process.stderr.write(String(err)); process.exit(1); }
  process.stdout.write("ready\\n");
});
process.on("SIGTERM", () => process.exit(0));
`;

export interface GrpcFloor {
  concurrency: number;
  callsPerSec: number;
  /** CPU per call of the calling process and of the echoing process, in µs. */
  clientCpuUsPerCall: number;
  serverCpuUsPerCall: number;
}

export async function measureGrpcFloor(
  dir: string,
  concurrencies: number[],
  durationMs: number,
  payloadBytes: number,
): Promise<GrpcFloor[]> {
  const socket = join(dir, "grpc-floor.sock");
  const grpcPath = createRequire(import.meta.url).resolve("@grpc/grpc-js");
  const child = spawn(process.execPath, ["-e", SERVER_SOURCE, grpcPath, socket], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise((r) => child.once("exit", r));
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (c: Buffer) => c.toString().includes("ready") && resolve());
      child.once("exit", (code) => reject(new Error(`grpc echo server exited with ${code}`)));
    });
    const client = new grpc.Client(`unix://${socket}`, grpc.credentials.createInsecure(), {
      "grpc.default_authority": "localhost",
    });
    const id = (b: Buffer): Buffer => b;
    const payload = Buffer.alloc(payloadBytes, 7);
    const call = () =>
      new Promise<void>((resolve, reject) =>
        client.makeUnaryRequest(
          "/floor.Echo/Echo",
          id,
          id,
          payload,
          new grpc.Metadata(),
          { deadline: Date.now() + 3000 },
          (err) => (err === null ? resolve() : reject(err)),
        ),
      );
    const run = async (concurrency: number, ms: number): Promise<number> => {
      let calls = 0;
      const until = performance.now() + ms;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (performance.now() < until) {
            await call();
            calls++;
          }
        }),
      );
      return calls;
    };
    const out: GrpcFloor[] = [];
    try {
      for (const concurrency of concurrencies) {
        await run(concurrency, 300); // warm-up
        const cpu0 = process.cpuUsage();
        const server0 = processCpuMs(child.pid) * 1000;
        const started = performance.now();
        const calls = await run(concurrency, durationMs);
        const elapsed = performance.now() - started;
        const cpu = process.cpuUsage(cpu0);
        out.push({
          concurrency,
          callsPerSec: Math.round(calls / (elapsed / 1000)),
          clientCpuUsPerCall: Math.round((cpu.user + cpu.system) / calls),
          serverCpuUsPerCall: Math.round((processCpuMs(child.pid) * 1000 - server0) / calls),
        });
      }
    } finally {
      client.close();
    }
    return out;
  } finally {
    child.kill("SIGTERM");
    await exited;
  }
}
