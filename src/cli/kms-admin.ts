import type { Command } from "commander";

/** The `atrest kms <admin command>` subcommands: a thin client over the signed KMS API. */
export function registerKmsAdminCommands(_kms: Command): void {
  // filled in by the KMS admin CLI work
}
