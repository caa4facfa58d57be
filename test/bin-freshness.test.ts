/**
 * `atrest` (bin/atrest.js) never runs stale output: dist/ runs only when `npm run build` stamped it with
 * the hash of exactly the sources beside it. Shown on a small tree that has the repository's bin/ and
 * build script, built with the real tsc: build → dist runs; edit, add or delete a source, or change a
 * tsconfig → the sources run; an image with dist/ and no src/ → dist runs.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import { repoRoot } from "./support/cli.js";

interface Entry {
  readonly kind: "dist" | "source";
  readonly reason: string;
}
interface SourceStamp {
  chooseEntry(root: string): Entry;
}

const MAIN = (version: string) =>
  `process.stdout.write(\`\${import.meta.url.includes("/dist/") ? "dist" : "source"} ${version}\\n\`);\n`;

describe("bin/atrest.js runs dist/ only when it was built from the sources beside it", () => {
  const root = mkdtempSync(join(tmpdir(), "atrest-bin-"));
  let stamp: SourceStamp;
  const env = { ...process.env };
  delete env["ATREST_FROM_SOURCE"]; // the test runner sets it for the suite; this test is about its absence

  const write = (path: string, text: string) => {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), text);
  };
  /** What `atrest` prints: "dist v1" or "source v1". */
  const run = () =>
    execFileSync(process.execPath, [join(root, "bin", "atrest.js")], { env, encoding: "utf8" }).trim();
  const build = () => {
    const r = spawnSync("npm", ["run", "--silent", "build"], { cwd: root, env, encoding: "utf8" });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  };

  before(async () => {
    mkdirSync(join(root, "bin"));
    for (const f of ["atrest.js", "source-stamp.js"])
      copyFileSync(join(repoRoot, "bin", f), join(root, "bin", f));
    symlinkSync(join(repoRoot, "node_modules"), join(root, "node_modules"));
    const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
      scripts: { build: string };
    };
    write("package.json", JSON.stringify({ type: "module", scripts: { build: pkg.scripts.build } }));
    write(
      "tsconfig.json",
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          skipLibCheck: true,
          types: ["node"],
          outDir: "dist",
          rootDir: ".",
        },
        include: ["src"],
      }),
    );
    write(
      "tsconfig.build.json",
      JSON.stringify({
        extends: "./tsconfig.json",
        compilerOptions: { rootDir: "src", outDir: "dist" },
        include: ["src"],
        exclude: ["src/**/*.test.ts"],
      }),
    );
    write("src/cli/main.ts", MAIN("v1"));
    write("src/lib/helper.ts", "export const helper = 1;\n");
    write("src/lib/helper.test.ts", "export {};\n");
    stamp = (await import(pathToFileURL(join(root, "bin", "source-stamp.js")).href)) as SourceStamp;
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  test("not built: the sources run", () => {
    assert.equal(run(), "source v1");
    assert.equal(stamp.chooseEntry(root).reason, "not built");
  });

  test("built: dist runs; a unit test edited changes nothing", () => {
    build();
    assert.equal(run(), "dist v1");
    write("src/lib/helper.test.ts", "export const changed = true;\n");
    assert.equal(run(), "dist v1");
  });

  test("a source edited after the build (a pull): the sources run, and the edit is what runs", () => {
    write("src/cli/main.ts", MAIN("v2"));
    assert.equal(run(), "source v2");
    assert.equal(stamp.chooseEntry(root).kind, "source");
    write("src/cli/main.ts", MAIN("v1")); // back to what was built: the hash is of content, not times
    assert.equal(run(), "dist v1");
  });

  test("a source added or deleted, or a tsconfig changed: the sources run", () => {
    write("src/lib/new.ts", "export const added = 1;\n");
    assert.equal(stamp.chooseEntry(root).kind, "source");
    rmSync(join(root, "src/lib/new.ts"));
    assert.equal(stamp.chooseEntry(root).kind, "dist");
    rmSync(join(root, "src/lib/helper.ts"));
    assert.equal(stamp.chooseEntry(root).kind, "source");
    write("src/lib/helper.ts", "export const helper = 1;\n");
    assert.equal(stamp.chooseEntry(root).kind, "dist");
    const config = readFileSync(join(root, "tsconfig.build.json"), "utf8");
    write("tsconfig.build.json", config.replace('"outDir"', '"declaration":true,"outDir"'));
    assert.equal(stamp.chooseEntry(root).kind, "source");
    write("tsconfig.build.json", config);
    assert.equal(run(), "dist v1");
  });

  test("a build that failed leaves no stamp: the sources run", () => {
    write("src/lib/helper.ts", "export const helper: number = 'not a number';\n");
    const r = spawnSync("npm", ["run", "--silent", "build"], { cwd: root, env, encoding: "utf8" });
    assert.notEqual(r.status, 0, "tsc fails");
    write("src/lib/helper.ts", "export const helper = 1;\n"); // the sources the old stamp was made from
    assert.equal(stamp.chooseEntry(root).kind, "source");
    assert.match(stamp.chooseEntry(root).reason, /no build stamp/);
    assert.equal(run(), "source v1");
    build();
    assert.equal(run(), "dist v1");
  });

  test("dist/ without src/ (the image): dist runs", () => {
    rmSync(join(root, "src"), { recursive: true });
    assert.equal(run(), "dist v1");
  });
});
