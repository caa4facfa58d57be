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

test("each top-level command is loaded alone under its own name, and all of them for --help", async () => {
  const { buildProgram } = await import("./program.js");
  const all = (await buildProgram()).commands.map((c) => c.name());
  assert.ok(all.length >= 10, all.join(","));
  assert.equal(new Set(all).size, all.length);
  for (const name of all) {
    const one = await buildProgram([name, "--help"]);
    assert.deepEqual(
      one.commands.map((c) => c.name()),
      [name],
    );
  }
  assert.deepEqual((await buildProgram(["--version"])).commands, []);
  assert.deepEqual(
    (await buildProgram(["--help"])).commands.map((c) => c.name()),
    all,
  );
});

test("atrest kms --help lists the kms commands; a misspelt command is suggested from all of them", async () => {
  const help = await runAtrest(["kms", "--help"]);
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /Usage: atrest kms/);
  assert.match(help.stdout, /\bserve\b/);
  const typo = await runAtrest(["encrytion", "status"]);
  assert.notEqual(typo.status, 0);
  assert.match(typo.stderr, /unknown command 'encrytion'/);
  assert.match(typo.stderr, /Did you mean encryption\?/);
});
