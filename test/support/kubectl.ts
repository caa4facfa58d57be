import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, realpathSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

/** The real kubectl (a dispatcher that picks kubectl 1.<minor> from the server's /version). */
export const KUBECTL = process.env.ATREST_KUBECTL ?? "/usr/bin/kubectl";

/** One kubectl minor itself (`kubectl.1.NN` beside the dispatcher), bypassing the dispatcher's choice. */
export function kubectlMinor(minor: number): string {
  return join(dirname(realpathSync(KUBECTL)), `kubectl.1.${String(minor)}`);
}

export interface KubectlResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** One kubectl "session": a kubeconfig and a fresh discovery cache dir of its own. */
export class Kubectl {
  readonly cacheDir: string;
  /** The binary run: the dispatcher unless a minor's own binary is given. */
  readonly binary: string;

  constructor(
    readonly kubeconfig: string,
    options: { cacheDir?: string; binary?: string } = {},
  ) {
    this.cacheDir = options.cacheDir ?? mkdtempSync(join(tmpdir(), "atrest-kubectl-cache-"));
    this.binary = options.binary ?? KUBECTL;
  }

  private argv(args: readonly string[]): string[] {
    return ["--kubeconfig", this.kubeconfig, "--cache-dir", this.cacheDir, ...args];
  }

  /** Runs kubectl to completion (killed after timeoutMs). */
  run(args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<KubectlResult> {
    return new Promise((resolve, reject) => {
      const child = this.spawn(args);
      let stdout = "";
      let stderr = "";
      child.stdout?.on("data", (c: Buffer) => (stdout += c.toString()));
      child.stderr?.on("data", (c: Buffer) => (stderr += c.toString()));
      const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
      child.on("error", reject);
      child.on("close", (status) => {
        clearTimeout(timer);
        resolve({ status, stdout, stderr });
      });
      if (options.input !== undefined) child.stdin?.end(options.input);
      else child.stdin?.end();
    });
  }

  /** Runs kubectl and fails with its stderr unless it exits 0. */
  async ok(args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<string> {
    const r = await this.run(args, options);
    if (r.status !== 0)
      throw new Error(`kubectl ${args.join(" ")} exited ${String(r.status)}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** Starts a long-running kubectl (e.g. `get -w`); the caller kills it. */
  spawn(args: readonly string[]): ChildProcess {
    return spawn(this.binary, this.argv(args), {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, KUBECONFIG: this.kubeconfig },
    });
  }
}
