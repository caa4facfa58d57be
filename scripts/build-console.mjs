#!/usr/bin/env node
// Builds the web console (src/console, React) with Vite into dist-console/, which the control plane
// serves under /console. Not committed: `npm test`, `.ci/run` and `npm run up` build it when its
// sources are newer than the last build (ensureConsoleBuilt in scripts/ensure-deps.mjs).
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { writeFileSync } from "node:fs";

const root = join(fileURLToPath(new URL(".", import.meta.url)), "..");
export const CONSOLE_SRC = join(root, "src", "console");
export const CONSOLE_OUT = join(root, "dist-console");
export const BUILD_STAMP = join(CONSOLE_OUT, ".build-stamp");

export async function buildConsole() {
  const { build } = await import("vite");
  await build({
    root: CONSOLE_SRC,
    base: "/console/",
    configFile: false,
    logLevel: "warn",
    // React's automatic JSX runtime, through Vite's own esbuild: no plugin needed.
    esbuild: { jsx: "automatic" },
    define: { "process.env.NODE_ENV": JSON.stringify("production") },
    build: {
      outDir: CONSOLE_OUT,
      emptyOutDir: true,
      target: "es2022",
      // Every script is a file from this origin (the pages' Content-Security-Policy allows no other).
      modulePreload: { polyfill: false },
      assetsInlineLimit: 0,
      rollupOptions: {
        input: { index: join(CONSOLE_SRC, "index.html"), signin: join(CONSOLE_SRC, "signin.html") },
      },
    },
  });
  writeFileSync(BUILD_STAMP, `${new Date().toISOString()}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) await buildConsole();
