/**
 * Connection handling on the TLS ports (issue 16), with small injected timeouts: plain HTTP answered as
 * Go answers it, silent and slow clients closed (kube's 32 s read-header timeout, request and idle
 * limits), and a watch whose timeoutSeconds is past 2^31 ms kept open.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { request } from "node:https";
import { MemoryStore } from "../src/storage/memory-store.js";
import { startApiServer, type ApiServer } from "../src/apiserver/index.js";
import { PLAIN_HTTP_ON_TLS_RESPONSE } from "../src/common/tls-serving.js";
import { initKmsDataDir } from "../src/kms/init.js";
import { startKmsServer } from "../src/kms/server.js";
import { call } from "./support/api-call.js";

const TIMEOUTS = { readHeaderTimeoutMs: 400, idleTimeoutMs: 400, requestTimeoutMs: 800 };

/** Everything the server sends until it closes the connection (bounded by the test's own timeout). */
function readUntilClosed(socket: Socket): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", () => undefined);
    socket.on("close", () => resolve(Buffer.concat(chunks)));
  });
}

describe("TLS ports: plain HTTP, slow and silent clients, long watches", () => {
  let dir: string;
  let store: MemoryStore;
  let server: ApiServer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "atrest-tls-serving-"));
    store = new MemoryStore();
    server = await startApiServer({ store, dataDir: dir, securePort: 0, servingTimeouts: TIMEOUTS });
  });
  after(async () => {
    await server.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("plain HTTP to the TLS port is answered HTTP/1.0 400 as Go's net/http does", async () => {
    for (const split of [false, true]) {
      const socket = netConnect(server.port, "127.0.0.1");
      const reply = readUntilClosed(socket);
      const req = "GET /api/v1/secrets HTTP/1.1\r\nHost: x\r\n\r\n";
      if (split) for (const ch of req.slice(0, 6)) socket.write(ch);
      else socket.write(req);
      assert.equal((await reply).toString("latin1"), PLAIN_HTTP_ON_TLS_RESPONSE);
    }
    // Not HTTP and not TLS: closed without a reply (Go's handshake error).
    const junk = netConnect(server.port, "127.0.0.1");
    const junkReply = readUntilClosed(junk);
    junk.write("\x00\x01\x02\x03\x04\x05garbage");
    assert.equal((await junkReply).length, 0);
    // And TLS still works.
    assert.equal((await call(server, "GET", "/healthz")).status, 200);
  });

  test("a connection that sends nothing is closed after the read-header timeout", async () => {
    const socket = netConnect(server.port, "127.0.0.1");
    assert.equal((await readUntilClosed(socket)).length, 0);
  });

  const tlsSocket = (): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const s = tlsConnect({
        host: "127.0.0.1",
        port: server.port,
        ca: server.caCertPem,
        servername: "localhost",
      });
      s.once("secureConnect", () => resolve(s));
      s.once("error", reject);
    });

  test("headers that never finish, and a body that never finishes, are answered 408 and closed", async () => {
    const slowHeaders = await tlsSocket();
    const r1 = readUntilClosed(slowHeaders);
    slowHeaders.write("GET /healthz HTTP/1.1\r\nHost: x\r\n");
    assert.match((await r1).toString(), /^HTTP\/1\.1 408 Request Timeout/);

    const slowBody = await tlsSocket();
    const r2 = readUntilClosed(slowBody);
    slowBody.write(
      `POST /api/v1/namespaces/default/secrets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${server.adminToken ?? ""}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{`,
    );
    const answer = (await r2).toString();
    assert.match(answer, /408 Request Timeout|400 Bad Request/);
    assert.equal(
      (await call(server, "GET", "/api/v1/namespaces/default/secrets")).json().items instanceof Array,
      true,
    );
  });

  test("an idle keep-alive connection is closed after the idle timeout", async () => {
    const s = await tlsSocket();
    const all = readUntilClosed(s);
    s.write("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n");
    const text = (await all).toString();
    assert.match(text, /^HTTP\/1\.1 200 OK/);
    assert.equal(text.match(/HTTP\/1\.1/g)?.length, 1, "one answer, then the close");
  });

  test("a watch with timeoutSeconds past 2^31 ms stays open and gets events", async () => {
    const timeoutSeconds = Math.ceil(2 ** 31 / 1000) + 10;
    const lines: string[] = [];
    let closed = false;
    const req = request(
      new URL(`/api/v1/namespaces/default/secrets?watch=1&timeoutSeconds=${timeoutSeconds}`, server.url),
      { headers: { Authorization: `Bearer ${server.adminToken ?? ""}` }, ca: server.caCertPem },
      (res) => {
        res.setEncoding("utf8");
        res.on("data", (c: string) => lines.push(...c.split("\n").filter((l) => l !== "")));
        res.on("close", () => (closed = true));
      },
    );
    req.on("error", () => undefined); // destroyed below, on purpose
    req.end();
    const waitFor = async (cond: () => boolean): Promise<void> => {
      const deadline = Date.now() + 10_000;
      while (!cond()) {
        assert.ok(Date.now() < deadline, "condition not met in time");
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    // The watch is open once a write's event reaches it; keep writing until one does (bounded).
    // Every write is awaited before the test ends: one still in flight when the server stops would
    // reject after the test (ECONNRESET).
    let n = 0;
    const writes: Array<Promise<unknown>> = [];
    await waitFor(() => {
      if (lines.length === 0 && n < 200)
        writes.push(
          call(server, "POST", "/api/v1/namespaces/default/secrets", {
            contentType: "application/json",
            body: JSON.stringify({ apiVersion: "v1", kind: "Secret", metadata: { name: `w${n++}` } }),
          }),
        );
      return lines.length > 0 || closed;
    });
    for (const r of await Promise.allSettled(writes))
      assert.equal(r.status, "fulfilled", r.status === "rejected" ? String(r.reason) : "");
    assert.equal(closed, false, "the watch ended at once");
    assert.equal((JSON.parse(lines[0] ?? "{}") as { type?: string }).type, "ADDED");
    req.destroy();
  });
});

describe("the KMS's HTTPS port", () => {
  test("answers plain HTTP as Go does, closes silent clients, and still serves TLS", async () => {
    const dir = mkdtempSync(join(tmpdir(), "atrest-tls-serving-kms-"));
    try {
      const init = await initKmsDataDir({ dataDir: join(dir, "kms"), accountId: "1234567890" });
      const kms = await startKmsServer({
        dataDir: join(dir, "kms"),
        schedulerIntervalMs: 0,
        servingTimeouts: TIMEOUTS,
      });
      try {
        const port = Number(new URL(kms.url).port);
        const plain = netConnect(port, "127.0.0.1");
        const reply = readUntilClosed(plain);
        plain.write("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
        assert.equal((await reply).toString("latin1"), PLAIN_HTTP_ON_TLS_RESPONSE);
        assert.equal((await readUntilClosed(netConnect(port, "127.0.0.1"))).length, 0);
        const status = await new Promise<number>((resolve, reject) => {
          const req = request(
            kms.url,
            { method: "POST", ca: readFileSync(init.caCertFile, "utf8") },
            (res) => {
              res.resume();
              resolve(res.statusCode ?? 0);
            },
          );
          req.on("error", reject);
          req.end();
        });
        assert.equal(status, 400, "an unsigned request reaches the KMS over TLS (and is refused as such)");
      } finally {
        await kms.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
