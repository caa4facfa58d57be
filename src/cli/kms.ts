import type { Command } from "commander";
import { registerKmsAdminCommands } from "./kms-admin.js";

/** `atrest kms …`: init, serve and the audit tools; the admin commands come from kms-admin.ts. */
export function registerKms(program: Command): void {
  const kms = program.command("kms").description("the atrest KMS server (Alibaba Cloud KMS API compatible)");
  registerKmsAdminCommands(kms);
}
