import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { AtrestError } from "../common/errors.js";
import { exitCodeFor } from "./exit-codes.js";
import { registerKms } from "./kms.js";
import { registerApiserver } from "./apiserver.js";
import { registerPlugin } from "./plugin.js";
import { registerDecode } from "./decode.js";
import { registerScan } from "./scan.js";
import { registerUp } from "./up.js";
import { registerExport } from "./export.js";
import { registerVerifyBackup } from "./verify-backup.js";
import { registerEncryption } from "./encryption.js";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  version: string;
};

/** Each subcommand lives in its own file under src/cli/ and is listed here. */
const registrations: Array<(program: Command) => void> = [
  registerKms,
  registerApiserver,
  registerPlugin,
  registerDecode,
  registerScan,
  registerUp,
  registerExport,
  registerVerifyBackup,
  registerEncryption,
];

export function buildProgram(): Command {
  const program = new Command("atrest")
    .description("Kubernetes Secret encryption at rest with a KMS, self-hosted")
    .version(pkg.version, "-v, --version")
    .showHelpAfterError()
    .exitOverride();
  for (const register of registrations) register(program);
  return program;
}

/** Runs the CLI; returns the exit status. Errors become one line on stderr. */
export async function runCli(argv: string[]): Promise<number> {
  const program = buildProgram();
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
