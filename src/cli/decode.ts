import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { AtrestError } from "../common/errors.js";
import { buildEncryptionState } from "../encryption-config/build.js";
import { decodedValueJson, decodeStoredValue } from "../encryption-config/decode-value.js";
import { grpcKmsClients } from "../encryption-config/grpc-clients.js";
import { loadEncryptionConfigurationFile } from "../encryption-config/load.js";

interface DecodeOptions {
  encryptionProviderConfig: string;
  key: string;
  valueFile?: string;
  valueHex?: string;
  resource?: string;
  plaintext: boolean;
  output: string;
}

function parseBoolean(value: string): boolean {
  if (value === "true") return true;
  if (value === "false") return false;
  throw new AtrestError(
    "invalid-argument",
    `--plaintext must be true or false, got ${JSON.stringify(value)}`,
  );
}

async function readValue(options: DecodeOptions): Promise<Buffer> {
  if ((options.valueFile === undefined) === (options.valueHex === undefined)) {
    throw new AtrestError("invalid-argument", "give exactly one of --value-file FILE or --value-hex HEX");
  }
  if (options.valueHex !== undefined) {
    const hex = options.valueHex.trim();
    if (hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
      throw new AtrestError("invalid-argument", "--value-hex must be an even number of hexadecimal digits");
    }
    return Buffer.from(hex, "hex");
  }
  try {
    return await readFile(options.valueFile!);
  } catch (err) {
    throw new AtrestError(
      "invalid-argument",
      `cannot read --value-file "${options.valueFile}": ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/** `atrest decode`: decrypts one stored value as the apiserver would and prints what it was encrypted with. */
export function registerDecode(program: Command): void {
  program
    .command("decode")
    .description("decrypt one stored value as the apiserver would and print how it was encrypted (JSON)")
    .requiredOption("--encryption-provider-config <file>", "the EncryptionConfiguration file")
    .requiredOption(
      "--key <storage-key>",
      "the value's storage key, e.g. /registry/secrets/<namespace>/<name> (the AAD)",
    )
    .option("--value-file <file>", "the stored value, raw bytes")
    .option("--value-hex <hex>", "the stored value, hex")
    .option(
      "--resource <resource>",
      "the resource (`secrets`, `<resource>.<group>`) when the key does not tell",
    )
    .option("--plaintext <boolean>", "include plaintextBase64 in the output", parseBoolean, true)
    .option("-o, --output <format>", "output format (json is the only one)", "json")
    .action(async (options: DecodeOptions) => {
      if (options.output !== "json")
        throw new AtrestError("invalid-argument", `-o ${options.output}: only json is supported`);
      const value = await readValue(options);
      const { config, contentHash } = await loadEncryptionConfigurationFile(options.encryptionProviderConfig);
      const state = await buildEncryptionState(config, {
        clients: grpcKmsClients,
        contentHash,
        background: false,
      });
      try {
        const decoded = await decodeStoredValue(
          state,
          options.key,
          value,
          options.resource === undefined ? {} : { resource: options.resource },
        );
        process.stdout.write(`${JSON.stringify(decodedValueJson(decoded, options.plaintext))}\n`);
      } finally {
        state.close();
      }
    });
}
