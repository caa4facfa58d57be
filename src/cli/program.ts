import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { AtrestError } from "../common/errors.js";
import { exitCodeFor } from "./exit-codes.js";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  version: string;
};

type Register = (program: Command) => void;

/**
 * Each top-level command lives in its own file under src/cli/ and is listed here, in the order of
 * `atrest --help`. Only the command asked for is imported: importing all of them (the KMS server,
 * the apiserver, gRPC, etcd, the operations…) costs about three times the start-up of one.
 */
const commands: Record<string, () => Promise<Register>> = {
  kms: async () => (await import("./kms.js")).registerKms,
  apiserver: async () => (await import("./apiserver.js")).registerApiserver,
  plugin: async () => (await import("./plugin.js")).registerPlugin,
  decode: async () => (await import("./decode.js")).registerDecode,
  scan: async () => (await import("./scan.js")).registerScan,
  up: async () => (await import("./up.js")).registerUp,
  export: async () => (await import("./export.js")).registerExport,
  "verify-backup": async () => (await import("./verify-backup.js")).registerVerifyBackup,
  iam: async () => (await import("./iam.js")).registerIam,
  events: async () => (await import("./events.js")).registerEvents,
  encryption: async () => (await import("./encryption.js")).registerEncryption,
  "control-plane": async () => (await import("./control-plane.js")).registerControlPlane,
};

/** The top-level command named in argv, when it is one of ours (options before it are global ones). */
function commandNamed(argv: readonly string[]): string | undefined {
  const first = argv.find((a) => !a.startsWith("-"));
  return first !== undefined && Object.hasOwn(commands, first) ? first : undefined;
}

/**
 * The program with the command that argv names; with none for `--version`; with every command
 * otherwise (`--help`, an unknown command's suggestions, no argv).
 */
export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command("atrest")
    .description("Kubernetes Secret encryption at rest with a KMS, self-hosted")
    .version(pkg.version, "-v, --version")
    .showHelpAfterError()
    .exitOverride();
  const named = commandNamed(argv);
  const versionOnly =
    named === undefined && argv.length > 0 && argv.every((a) => a === "-v" || a === "--version");
  const loaders = named !== undefined ? [commands[named]!] : versionOnly ? [] : Object.values(commands);
  for (const register of await Promise.all(loaders.map((load) => load()))) register(program);
  return program;
}

/** Runs the CLI; returns the exit status. Errors become one line on stderr. */
export async function runCli(argv: string[]): Promise<number> {
  const program = await buildProgram(argv);
  try {
    await program.parseAsync(argv, { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    // One line, whatever a dependency put in its message (gRPC status details carry newlines).
    const message = (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, " ").trim();
    process.stderr.write(`atrest: ${message}\n`);
    return err instanceof AtrestError ? exitCodeFor(err) : 1;
  }
}
