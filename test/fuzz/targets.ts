/**
 * The fuzzing campaign (issue 16): each target feeds generated and mutated input to one decoder or
 * server and checks "a typed error or a correct result — never a 500, a hang or a lost key". A hang is
 * caught by fast-check's per-case timeout. `test/fuzz.test.ts` runs a few cases of each in `npm test`;
 * `npm run fuzz` (test/fuzz/run.ts) runs many and prints cases, time and findings per target as JSON.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { AtrestError } from "../../src/common/errors.js";
import { decodeJson } from "../../src/common/json-decode.js";
import { decodeYaml } from "../../src/common/yaml-decode.js";
import {
  contextForKey,
  decodeEncryptedObject,
  encodeEncryptedObject,
  newAesCbcTransformer,
  newAesGcmTransformer,
  newIdentityTransformer,
  newKmsV1Transformer,
  newKmsV2Transformer,
  newPrefixChain,
  newSecretboxTransformer,
  type EnvelopeProvider,
} from "../../src/envelope/index.js";
import { parseEncryptionConfiguration } from "../../src/encryption-config/load.js";
import { labelSelector, parseFieldSelector } from "../../src/apiserver/selectors.js";
import { startApiServer, type ApiServer } from "../../src/apiserver/index.js";
import {
  decodeProtobufObject,
  encodeProtobufObject,
  PROTOBUF_MAGIC,
} from "../../src/kube-object/protobuf-codec.js";
import { decodeBlob } from "../../src/kms/ciphertext-blob.js";
import { evaluatePolicies } from "../../src/iam/policy/evaluate.js";
import { parsePolicyDocument } from "../../src/iam/policy/policy-document.js";
import { MemoryStore } from "../../src/storage/memory-store.js";
import { call } from "../support/api-call.js";
import { FakeKmsV1Service, FakeKmsV2Service } from "../support/fake-kms-v2-service.js";
import { startTestKms, type TestKms } from "../support/kms.js";

export interface Finding {
  readonly target: string;
  readonly counterexample: string;
  readonly error: string;
}

export interface Target {
  readonly name: string;
  /** Runs `numRuns` cases; resolves with the findings (at most one: fast-check stops at the first). */
  run(numRuns: number, seed?: number): Promise<Finding[]>;
}

/** A thrown value is acceptable only as the project's typed error. */
function typed(err: unknown): void {
  if (!(err instanceof AtrestError))
    throw new Error(`untyped error: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
}

function tryTyped<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    typed(err);
    return undefined;
  }
}

async function tryTypedAsync<T>(fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    typed(err);
    return undefined;
  }
}

const CASE_TIMEOUT_MS = 5000;

async function check(
  name: string,
  prop: fc.IAsyncPropertyWithHooks<unknown[]> | fc.IPropertyWithHooks<unknown[]>,
  numRuns: number,
  seed?: number,
): Promise<Finding[]> {
  const out = await fc.check(prop as fc.IAsyncProperty<unknown[]>, {
    numRuns,
    timeout: CASE_TIMEOUT_MS,
    ...(seed === undefined ? {} : { seed }),
  });
  if (!out.failed) return [];
  return [
    {
      target: name,
      counterexample: fc.stringify(out.counterexample).slice(0, 2000),
      error: String(out.errorInstance instanceof Error ? out.errorInstance.message : out.errorInstance).slice(
        0,
        500,
      ),
    },
  ];
}

/** Bytes that start like the real thing and then go wrong: a known prefix, then noise or a mutation. */
function mutated(valid: Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc.tuple(fc.constantFrom(...valid), fc.nat(), fc.integer({ min: 1, max: 255 })).map(([v, at, x]) => {
      const b = Buffer.from(v);
      if (b.length > 0) b[at % b.length] = ((b[at % b.length] as number) ^ x) & 0xff;
      return b;
    }),
    fc.tuple(fc.constantFrom(...valid), fc.nat()).map(([v, n]) => v.subarray(0, n % (v.length + 1))),
    fc
      .tuple(fc.constantFrom(...valid), fc.uint8Array({ maxLength: 64 }))
      .map(([v, tail]) => Buffer.concat([v, tail])),
  );
}

// ---------------------------------------------------------------------------------------------------

const envelopeTarget: Target = {
  name: "envelope-decoders",
  async run(numRuns, seed) {
    const key = (n: number) => ({ name: `k${n}`, secret: Buffer.alloc(32, n) });
    const v2 = newKmsV2Transformer({ providerName: "fuzz2", service: new FakeKmsV2Service() });
    await v2.start();
    const providers: EnvelopeProvider[] = [
      v2,
      newKmsV1Transformer({ providerName: "fuzz1", service: new FakeKmsV1Service() }),
      newAesGcmTransformer([key(1)]),
      newAesCbcTransformer([key(2)]),
      newSecretboxTransformer([key(3)]),
      newIdentityTransformer(),
    ];
    const ctx = contextForKey("/registry/secrets/default/fuzz");
    const reader = newPrefixChain(providers);
    const samples: Uint8Array[] = [];
    for (const p of providers)
      samples.push(await newPrefixChain([p]).transformToStorage(Buffer.from('{"k":"v"}'), ctx));
    const prop = fc.asyncProperty(
      fc.oneof(
        mutated(samples),
        fc
          .tuple(fc.constantFrom(...providers.map((p) => p.prefix ?? "")), fc.uint8Array({ maxLength: 200 }))
          .map(([p, b]) => Buffer.concat([Buffer.from(p), b])),
      ),
      fc.uint8Array({ maxLength: 2000 }),
      fc.nat({ max: providers.length - 1 }),
      async (stored, plaintext, writer) => {
        await tryTypedAsync(() => reader.transformFromStorage(stored, ctx));
        // Whatever writes, the chain reads back exactly what was written.
        const chain = newPrefixChain([providers[writer] as EnvelopeProvider, ...providers]);
        const written = await chain.transformToStorage(plaintext, ctx);
        const back = await chain.transformFromStorage(written, ctx);
        if (!back.plaintext.equals(Buffer.from(plaintext))) throw new Error("round trip lost bytes");
      },
    );
    try {
      return await check(this.name, prop, numRuns, seed);
    } finally {
      v2.stop();
    }
  },
};

const encryptedObjectTarget: Target = {
  name: "encrypted-object",
  async run(numRuns, seed) {
    const valid = encodeEncryptedObject({
      encryptedData: Buffer.alloc(40, 1),
      keyID: "key-1",
      encryptedDEKSource: Buffer.alloc(32, 2),
      annotations: { "a.example.com": Buffer.from("x") },
      encryptedDEKSourceType: 1,
    } as never);
    const prop = fc.property(mutated([valid]), (bytes) => {
      const decoded = tryTyped(() => decodeEncryptedObject(bytes));
      if (decoded !== undefined) tryTyped(() => encodeEncryptedObject(decoded));
    });
    return check(this.name, prop, numRuns, seed);
  },
};

const DATA_KEY = fc.oneof(
  fc.constantFrom(
    "__proto__",
    "constructor",
    "toString",
    "hasOwnProperty",
    "valueOf",
    "k",
    ".dot",
    "a-b_c.d",
  ),
  // kube's IsConfigMapKey: [-._a-zA-Z0-9]+, neither "." nor "..", not starting with "..".
  fc.stringMatching(/^[-._a-zA-Z0-9]{1,20}$/).filter((k) => k !== "." && !k.startsWith("..")),
);
const BASE64 = fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString("base64"));
const dataMap = fc
  .uniqueArray(fc.tuple(DATA_KEY, BASE64), { selector: ([k]) => k, maxLength: 6 })
  .map((pairs) => {
    const m: Record<string, string> = {};
    for (const [k, v] of pairs)
      Object.defineProperty(m, k, { value: v, enumerable: true, writable: true, configurable: true });
    return m;
  });

const protobufTarget: Target = {
  name: "kube-protobuf",
  async run(numRuns, seed) {
    const sample = encodeProtobufObject({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "a", labels: { x: "y" } },
      data: { k: "dg==" },
    });
    const prop = fc.property(
      mutated([sample, Buffer.concat([PROTOBUF_MAGIC, Buffer.from([0x0a, 0x00])])]),
      dataMap,
      (bytes, data) => {
        tryTyped(() => decodeProtobufObject(bytes));
        const back = decodeProtobufObject(
          encodeProtobufObject({ apiVersion: "v1", kind: "Secret", metadata: { name: "a" }, data }),
        );
        const got = (back.data ?? {}) as Record<string, unknown>;
        if (JSON.stringify(Object.keys(got).sort()) !== JSON.stringify(Object.keys(data).sort()))
          throw new Error("protobuf lost a data key");
      },
    );
    return check(this.name, prop, numRuns, seed);
  },
};

const textTarget = (name: string, decode: (s: string) => unknown): Target => ({
  name,
  async run(numRuns, seed) {
    const prop = fc.property(
      fc.oneof(
        fc.string({ maxLength: 200 }),
        fc.jsonValue({ maxDepth: 6 }).map((v) => JSON.stringify(v)),
        fc.string({ unit: "binary", maxLength: 100 }),
      ),
      (text) => {
        tryTyped(() => decode(text));
      },
    );
    return check(this.name, prop, numRuns, seed);
  },
});

const selectorTarget: Target = {
  name: "selectors",
  async run(numRuns, seed) {
    const token = fc.oneof(
      fc.stringMatching(/^[a-z0-9./_-]{0,12}$/),
      fc.constantFrom(
        "=",
        "==",
        "!=",
        "!",
        " in ",
        " notin ",
        "(",
        ")",
        ",",
        " ",
        "constructor",
        "__proto__",
      ),
    );
    const selector = fc.oneof(
      fc.string({ maxLength: 60 }),
      fc.array(token, { maxLength: 12 }).map((t) => t.join("")),
    );
    const labels = fc.dictionary(fc.stringMatching(/^[a-z]{1,5}$/), fc.stringMatching(/^[a-z0-9]{0,5}$/), {
      maxKeys: 4,
    });
    const prop = fc.property(selector, labels, (s, l) => {
      const sel = tryTyped(() => labelSelector(s));
      if (sel !== undefined) {
        const r = sel(l);
        if (typeof r !== "boolean") throw new Error("selector result is not a boolean");
        // An Object.prototype name is never a label the object has.
        if (s.trim() === "constructor" && r)
          throw new Error("constructor matched an object without that label");
      }
      tryTyped(() => parseFieldSelector(s, ["metadata.name", "metadata.namespace", "type"]));
    });
    return check(this.name, prop, numRuns, seed);
  },
};

const encryptionConfigTarget: Target = {
  name: "encryption-configuration",
  async run(numRuns, seed) {
    const provider = fc.oneof(
      fc.record({ identity: fc.constant({}) }),
      fc.record({
        aesgcm: fc.record({
          keys: fc.array(
            fc.record({
              name: fc.string({ maxLength: 8 }),
              secret: fc.oneof(BASE64, fc.string({ maxLength: 50 })),
            }),
            { maxLength: 3 },
          ),
        }),
      }),
      fc.record({
        kms: fc.record(
          {
            apiVersion: fc.constantFrom("v1", "v2", "v3"),
            name: fc.string({ maxLength: 10 }),
            endpoint: fc.oneof(fc.constant("unix:///tmp/x.sock"), fc.string({ maxLength: 20 })),
            timeout: fc.oneof(fc.constant("3s"), fc.string({ maxLength: 5 })),
          },
          { requiredKeys: [] },
        ),
      }),
      fc.jsonValue({ maxDepth: 3 }),
    );
    const doc = fc.record({
      apiVersion: fc.constantFrom("apiserver.config.k8s.io/v1", "v1", ""),
      kind: fc.constantFrom("EncryptionConfiguration", "Other"),
      resources: fc.array(
        fc.record({
          resources: fc.array(fc.constantFrom("secrets", "*.*", "configmaps", "*.", "", "a.b"), {
            maxLength: 3,
          }),
          providers: fc.array(provider, { maxLength: 3 }),
        }),
        { maxLength: 3 },
      ),
    });
    const prop = fc.property(
      fc.oneof(
        doc.map((d) => JSON.stringify(d)),
        fc.string({ maxLength: 200 }),
      ),
      (text) => {
        tryTyped(() => parseEncryptionConfiguration(text));
      },
    );
    return check(this.name, prop, numRuns, seed);
  },
};

const policyTarget: Target = {
  name: "ram-policies",
  async run(numRuns, seed) {
    const pattern = fc
      .array(fc.constantFrom("*", "?", "a", "k", "e", "y", "/", ":", "Z"), { maxLength: 30 })
      .map((c) => c.join(""));
    const statement = fc.record(
      {
        Effect: fc.constantFrom("Allow", "Deny", "allow", "x"),
        Action: fc.oneof(
          pattern,
          fc.array(fc.oneof(pattern, fc.constantFrom("kms:*", "kms:Encrypt")), { maxLength: 3 }),
        ),
        Resource: fc.oneof(pattern, fc.array(pattern, { maxLength: 3 })),
      },
      { requiredKeys: [] },
    );
    const doc = fc.oneof(
      fc
        .record({ Version: fc.constantFrom("1", "2"), Statement: fc.array(statement, { maxLength: 4 }) })
        .map((d) => JSON.stringify(d)),
      fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
      fc.string({ maxLength: 100 }),
    );
    const value = fc.string({ maxLength: 2000, unit: fc.constantFrom("a", "k", "e", "y", "/", ":", "Z") });
    const prop = fc.property(doc, value, (text, v) => {
      const policy = tryTyped(() => parsePolicyDocument(text));
      if (policy !== undefined) {
        const d = evaluatePolicies([policy], {
          action: "kms:Encrypt",
          resource: `acs:kms:cn-hangzhou:1:key/${v}`,
        });
        if (d === undefined || d === null) throw new Error("no decision");
      }
    });
    return check(this.name, prop, numRuns, seed);
  },
};

const blobTarget: Target = {
  name: "ciphertext-blobs",
  async run(numRuns, seed) {
    const prop = fc.property(
      fc.oneof(
        fc.string({ maxLength: 300 }),
        fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString("base64")),
        fc.base64String({ maxLength: 400 }),
      ),
      (text) => {
        tryTyped(() => decodeBlob(text));
      },
    );
    return check(this.name, prop, numRuns, seed);
  },
};

// ---- the real HTTP handlers ------------------------------------------------------------------------

const httpBodiesTarget: Target = {
  name: "apiserver-bodies",
  async run(numRuns, seed) {
    const dir = mkdtempSync(join(tmpdir(), "atrest-fuzz-api-"));
    const store = new MemoryStore();
    const server: ApiServer = await startApiServer({
      store,
      dataDir: dir,
      securePort: 0,
      storageVersionMigrator: false,
    });
    let n = 0;
    const S = "/api/v1/namespaces/default/secrets";
    try {
      await call(server, "POST", S, {
        contentType: "application/json",
        body: '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"target"},"data":{"k":"dg=="}}',
      });
      const junk = fc.oneof(
        fc.jsonValue({ maxDepth: 5 }).map((v) => JSON.stringify(v)),
        fc.string({ maxLength: 200 }),
        fc.tuple(fc.jsonValue({ maxDepth: 4 }), fc.nat(), fc.string({ maxLength: 3 })).map(([v, at, s]) => {
          const t = JSON.stringify({ apiVersion: "v1", kind: "Secret", metadata: { name: "x" }, data: v });
          return t.slice(0, at % (t.length + 1)) + s + t.slice(at % (t.length + 1));
        }),
      );
      const contentType = fc.constantFrom(
        "application/json",
        "application/yaml",
        "application/vnd.kubernetes.protobuf",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/json-patch+json",
        "application/apply-patch+yaml",
        "text/plain",
      );
      const prop = fc.asyncProperty(
        junk,
        contentType,
        dataMap,
        fc.constantFrom("Strict", "Warn", "Ignore"),
        async (body, type, data, validation) => {
          const isPatch = type.includes("patch");
          const r = await call(
            server,
            isPatch ? "PATCH" : "POST",
            `${isPatch ? `${S}/target?fieldManager=f` : S}${isPatch ? "&" : "?"}fieldValidation=${validation}`,
            { contentType: type, body },
          );
          if (r.status >= 500) throw new Error(`${r.status}: ${r.body.toString().slice(0, 200)}`);
          // A well-formed Secret keeps every data key, whatever its name.
          const name = `f${n++}`;
          const created = await call(server, "POST", S, {
            contentType: "application/json",
            body: JSON.stringify({ apiVersion: "v1", kind: "Secret", metadata: { name }, data }),
          });
          if (created.status !== 201)
            throw new Error(`create ${created.status}: ${created.body.toString().slice(0, 200)}`);
          const got = (await call(server, "GET", `${S}/${name}`)).json().data ?? {};
          if (JSON.stringify(Object.keys(got).sort()) !== JSON.stringify(Object.keys(data).sort()))
            throw new Error("a data key was lost");
          const [firstKey] = Object.keys(data);
          if (firstKey !== undefined) {
            const patched = await call(server, "PATCH", `${S}/${name}`, {
              contentType: "application/merge-patch+json",
              body: JSON.stringify({ data: Object.fromEntries([[firstKey, null]]) }),
            });
            if (Object.hasOwn(patched.json().data ?? {}, firstKey))
              throw new Error("merge patch null did not remove the key");
          }
        },
      );
      return await check(this.name, prop, numRuns, seed);
    } finally {
      await server.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

const kmsRpcTarget: Target = {
  name: "kms-rpc",
  async run(numRuns, seed) {
    const kms: TestKms = await startTestKms("fuzz-kms");
    const ca = kms.caFile;
    const { readFileSync } = await import("node:fs");
    const caPem = readFileSync(ca, "utf8");
    const send = (
      method: string,
      query: string,
      body: string,
      headers: Record<string, string>,
    ): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        const req = request(
          new URL(`/?${query}`, kms.server.url),
          { method, ca: caPem, headers: { "content-length": String(Buffer.byteLength(body)), ...headers } },
          (res) => {
            let text = "";
            res.setEncoding("utf8");
            res.on("data", (c: string) => (text += c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
          },
        );
        req.on("error", reject);
        req.end(body);
      });
    const param = fc.tuple(
      fc.constantFrom(
        "Action",
        "Format",
        "Version",
        "AccessKeyId",
        "SignatureMethod",
        "SignatureVersion",
        "SignatureNonce",
        "Timestamp",
        "Signature",
        "KeyId",
        "Plaintext",
        "CiphertextBlob",
        "EncryptionContext",
        "__proto__",
        "constructor",
        "RegionId",
        "Tags",
      ),
      fc.oneof(
        fc.string({ maxLength: 40 }),
        fc.constantFrom(
          "Encrypt",
          "Decrypt",
          "CreateKey",
          "DescribeKey",
          "HMAC-SHA1",
          "1.0",
          "2016-01-20",
          "JSON",
          "XML",
          kms.creds.accessKeyId,
          '{"__proto__":"x"}',
        ),
      ),
    );
    const prop = fc.asyncProperty(
      fc.array(param, { maxLength: 12 }),
      fc.constantFrom("GET", "POST"),
      fc.boolean(),
      async (params, method, asBody) => {
        const qs = new URLSearchParams(params).toString();
        const r = asBody
          ? await send(method, "", qs, { "content-type": "application/x-www-form-urlencoded" })
          : await send(method, qs, "", {});
        if (r.status >= 500 && r.status !== 503) throw new Error(`${r.status}: ${r.body.slice(0, 200)}`);
        if (r.status >= 400 && !/Code/.test(r.body))
          throw new Error(`not Alibaba-shaped: ${r.body.slice(0, 200)}`);
      },
    );
    try {
      return await check(this.name, prop, numRuns, seed);
    } finally {
      await kms.close();
    }
  },
};

export const TARGETS: readonly Target[] = [
  envelopeTarget,
  encryptedObjectTarget,
  protobufTarget,
  textTarget("json-decoder", (s) => decodeJson(s)),
  textTarget("yaml-decoder", (s) => decodeYaml(s)),
  selectorTarget,
  encryptionConfigTarget,
  policyTarget,
  blobTarget,
  httpBodiesTarget,
  kmsRpcTarget,
];
