import { randomBytes } from "node:crypto";
import { linkSync, statSync, unlinkSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { Command } from "commander";
import { AtrestError } from "../common/errors.js";
import { exportObjects, type ExportReport } from "../recovery/export.js";
import { openObjectSource } from "../recovery/object-source.js";
import { collectResources } from "./scan.js";
import {
  addBackupOptions,
  addSourceOptions,
  openBackupKeys,
  sourceFrom,
  valueReaderFrom,
  type BackupFlags,
  type OpenedBackupKeys,
  type SourceFlags,
} from "./recovery-flags.js";

interface ExportFlags extends SourceFlags, BackupFlags {
  encryptionProviderConfig?: string;
  resource?: string[];
  namespace?: string;
  out?: string;
  output?: string;
}

const HELP = `
The output is a YAML stream for \`kubectl apply -f\`: Namespaces first, server fields (status, uid,
resourceVersion, creationTimestamp, managedFields, ownerReferences, …) removed. It holds Secret values:
written to --out (mode 0600, created new) or to stdout, nowhere else. With stdout, every object is
decrypted once before the first byte is written, so a failure leaves no partial stream.

Exit status: 0 exported; 2 bad arguments; 3 the store, snapshot member or a KMS plugin is unavailable;
4 a value does not decrypt or the snapshot does not restore; 5 the backup's passphrase is wrong;
6 a value needs a key that was not given (local key, HSM token); 7 --out exists; 8 a KMS key version
is not in the backup.`;

function summary(r: ExportReport, source: string): string {
  const per = Object.entries(r.byResource)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  return (
    `atrest export: ${r.objects} objects (${per || "none"}) from ${source} at revision ${r.revision}` +
    (r.skipped === 0
      ? ""
      : `; ${r.skipped} skipped (not objects this export can decode, e.g. ${r.skippedExamples[0]?.key ?? "?"})`) +
    "\n"
  );
}

/** `atrest export`: decrypt a store's or snapshot's objects into a YAML stream for kubectl apply. */
export function registerExport(program: Command): void {
  const cmd = program.command("export");
  addBackupOptions(addSourceOptions(cmd))
    .description("decrypt every object of a store or etcd snapshot into YAML that kubectl apply accepts")
    .option(
      "--encryption-provider-config <file>",
      "the EncryptionConfiguration the objects were written with",
    )
    .option("--kms-backup <file>", "read KMS-encrypted values with this KMS backup instead of the plugins")
    .option(
      "--resource <names>",
      "only these resources (secrets,configmaps; repeatable); default all",
      collectResources,
    )
    .option("--namespace <ns>", "only objects in this namespace (and the Namespace itself)")
    .option("--out <file>", "write the YAML here (mode 0600, must not exist) instead of stdout")
    .option("-o, --output <format>", "json: print the summary as JSON on stderr")
    .addHelpText("after", HELP)
    .action(async (flags: ExportFlags) => {
      const source = sourceFrom(flags);
      let backup: OpenedBackupKeys | undefined;
      if (flags.kmsBackup !== undefined)
        backup = await openBackupKeys({ ...flags, kmsBackup: flags.kmsBackup });
      else if (flags.passphraseFile !== undefined || flags.keyFile !== undefined)
        throw new AtrestError("invalid-argument", "--passphrase-file and --key-file go with --kms-backup");
      let out: { handle: FileHandle; tmp: string } | undefined;
      try {
        if (flags.out !== undefined) out = await createOutput(flags.out);
        const reader = await valueReaderFrom(flags.encryptionProviderConfig, backup);
        const opened = await openObjectSource(source);
        try {
          const options = {
            store: opened.store,
            reader,
            prefix: flags.etcdPrefix,
            ...(flags.resource === undefined ? {} : { resources: flags.resource }),
            ...(flags.namespace === undefined ? {} : { namespace: flags.namespace }),
          };
          let report: ExportReport;
          if (out !== undefined) {
            const handle = out.handle;
            report = await exportObjects(options, async (doc) => {
              await handle.write(doc);
            });
            await handle.sync();
            await handle.close();
            publish(out.tmp, flags.out!);
            out = undefined;
          } else {
            // Pass one reads and decrypts everything; only then does pass two write, at the same revision.
            const checked = await exportObjects(options, () => undefined);
            report = await exportObjects({ ...options, revision: checked.revision }, (doc) =>
              writeStdout(doc),
            );
          }
          process.stderr.write(
            flags.output === "json" ? JSON.stringify(report) + "\n" : summary(report, opened.description),
          );
        } finally {
          reader.close();
          await opened.close();
        }
      } finally {
        if (out !== undefined) {
          await out.handle.close().catch(() => undefined);
          try {
            unlinkSync(out.tmp);
          } catch {
            // already gone
          }
        }
        await backup?.close();
      }
    });
}

async function createOutput(path: string): Promise<{ handle: FileHandle; tmp: string }> {
  try {
    statSync(path);
    throw new AtrestError("already-exists", `--out: ${path} exists; refusing to overwrite it`);
  } catch (err) {
    if (err instanceof AtrestError) throw err;
  }
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    return { handle: await open(tmp, "wx", 0o600), tmp };
  } catch (err) {
    throw new AtrestError(
      "invalid-argument",
      `--out: cannot create a file in ${dirname(path)} (${(err as NodeJS.ErrnoException).code ?? "error"})`,
      { cause: err },
    );
  }
}

/** Gives the finished temp file its name; never replaces a file that appeared meanwhile. */
function publish(tmp: string, path: string): void {
  try {
    linkSync(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST")
      throw new AtrestError("already-exists", `--out: ${path} exists; refusing to overwrite it`);
    throw err;
  } finally {
    unlinkSync(tmp);
  }
}

function writeStdout(text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(text, (err) => (err === null || err === undefined ? resolve() : reject(err)));
  });
}
