/** Secret files readable by other users are refused at start (issue 16): tokens, access keys, profiles. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isAtrestError } from "../src/common/errors.js";
import { MemoryStore } from "../src/storage/memory-store.js";
import { startApiServer } from "../src/apiserver/index.js";
import { loadCredentials } from "../src/plugin/index.js";
import { loadKmsProfile } from "../src/kms/client/index.js";

const refused = (what: string, path: string) => (e: unknown) =>
  isAtrestError(e, "failed-precondition") &&
  e.message === `${what} ${path} must not be readable by group or others (chmod 600 ${path})`;

test("a token file, an access key file or a KMS profile that others can read is refused", async () => {
  const dir = mkdtempSync(join(tmpdir(), "atrest-secret-modes-"));
  const store = new MemoryStore();
  try {
    const tokens = join(dir, "tokens.csv");
    writeFileSync(tokens, 'admintoken,admin,1,"system:masters"\n', { mode: 0o644 });
    await assert.rejects(
      startApiServer({ store, dataDir: dir, securePort: 0, tokenAuthFile: tokens }),
      refused("--token-auth-file", tokens),
    );
    // The generated token file beside the data is held to the same rule.
    await assert.rejects(
      startApiServer({ store, dataDir: dir, securePort: 0 }),
      refused("token file", tokens),
    );

    const creds = join(dir, "creds.json");
    writeFileSync(creds, JSON.stringify({ accessKeyId: "LTAI", accessKeySecret: "s3cr3t" }), { mode: 0o640 });
    assert.throws(() => loadCredentials(creds, {}), refused("--credentials-file", creds));

    const profile = join(dir, "profile.json");
    writeFileSync(
      profile,
      JSON.stringify({
        endpoint: "https://127.0.0.1:1",
        regionId: "cn-hangzhou",
        accessKeyId: "a",
        accessKeySecret: "s",
      }),
      { mode: 0o604 },
    );
    assert.throws(() => loadKmsProfile(profile), refused("--profile", profile));
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
