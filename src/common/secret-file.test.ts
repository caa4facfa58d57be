import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isAtrestError } from "./errors.js";
import { assertPrivateFile, ensurePrivateDir, readSecretFile } from "./secret-file.js";

test("a secret file readable by group or others is refused with a one-line fix, never its content", () => {
  const dir = mkdtempSync(join(tmpdir(), "atrest-secret-file-"));
  try {
    const f = join(dir, "creds.json");
    writeFileSync(f, '{"accessKeySecret":"s3cr3t"}', { mode: 0o600 });
    assert.equal(readSecretFile(f, "--credentials-file").toString(), '{"accessKeySecret":"s3cr3t"}');
    for (const mode of [0o644, 0o640, 0o604, 0o660]) {
      chmodSync(f, mode);
      assert.throws(
        () => readSecretFile(f, "--credentials-file"),
        (e: unknown) =>
          isAtrestError(e, "failed-precondition") &&
          e.message === `--credentials-file ${f} must not be readable by group or others (chmod 600 ${f})` &&
          !e.message.includes("s3cr3t"),
      );
    }
    assert.throws(() => assertPrivateFile(join(dir, "missing"), "--profile"), /cannot read --profile/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a data dir open to others is made owner-only (and reported); a new one is created 0700", () => {
  const dir = mkdtempSync(join(tmpdir(), "atrest-private-dir-"));
  try {
    const fresh = join(dir, "a", "b");
    assert.equal(ensurePrivateDir(fresh), undefined);
    assert.equal(statSync(fresh).mode & 0o777, 0o700);
    const open = join(dir, "open");
    mkdirSync(open);
    chmodSync(open, 0o777);
    assert.equal(ensurePrivateDir(open), 0o777);
    assert.equal(statSync(open).mode & 0o777, 0o700);
    assert.equal(ensurePrivateDir(open), undefined, "already private: nothing to report");
    const file = join(dir, "file");
    writeFileSync(file, "");
    assert.throws(
      () => ensurePrivateDir(file),
      (e: unknown) => isAtrestError(e),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
