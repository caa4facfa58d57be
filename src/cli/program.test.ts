import { test } from "node:test";
import assert from "node:assert/strict";
import { runAtrest } from "../../test/support/cli.js";

test("atrest --version prints the package version", async () => {
  const r = await runAtrest(["--version"]);
  assert.equal(r.status, 0);
  assert.match(r.stdout.trim(), /^\d+\.\d+\.\d+$/);
});

test("atrest --help lists usage; an unknown command fails with a clear message", async () => {
  const help = await runAtrest(["--help"]);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /Usage: atrest/);
  const bad = await runAtrest(["no-such-command"]);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /unknown command/);
});
