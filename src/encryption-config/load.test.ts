import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { isAtrestError } from "../common/errors.js";
import { configIssuesOf, contentHashOf, parseEncryptionConfiguration, type LoadOptions } from "./load.js";
import { indexRules, matchResource } from "./matching.js";
import type { KmsProviderConfig } from "./types.js";

const fixtures = fileURLToPath(new URL("./fixtures/", import.meta.url));
const read = (name: string) => readFileSync(`${fixtures}${name}`);
const load = (name: string, options: LoadOptions = {}) =>
  parseEncryptionConfiguration(read(name), { source: name, ...options });

function issuesFor(name: string, options: LoadOptions = {}): Array<[string, string]> {
  try {
    load(name, options);
  } catch (err) {
    assert.ok(isAtrestError(err, "invalid-argument"), `expected invalid-argument, got ${String(err)}`);
    return configIssuesOf(err).map((i) => [i.path, i.message]);
  }
  assert.fail(`${name} was accepted`);
}

/** Every invalid fixture with the exact paths and messages it must produce (kube-apiserver's wording). */
const expectedIssues: Record<string, Array<[string, string]>> = {
  "invalid/aes-key-length.yaml": [
    [
      "resources[0].providers[0].aesgcm.keys[0].secret",
      'resources[0].providers[0].aesgcm.keys[0].secret: Invalid value: "REDACTED": secret is not of the expected length, got 8, expected one of [16 24 32]',
    ],
  ],
  "invalid/aes-no-keys.yaml": [
    [
      "resources[0].providers[0].aesgcm.keys",
      "resources[0].providers[0].aesgcm.keys: Required value: at least one keys is required",
    ],
  ],
  "invalid/capital-letters.yaml": [
    [
      "resources[0].resources[0]",
      'resources[0].resources[0]: Invalid value: "Secrets": resource name should not contain capital letters',
    ],
  ],
  "invalid/duplicate-resource.yaml": [
    [
      "resources[0].resources",
      'resources[0].resources: Invalid value: []string{"secrets", "secrets"}: the same resource cannot be specified multiple times',
    ],
  ],
  "invalid/duplicate-yaml-key.yaml": [
    ["", "error converting YAML to JSON: yaml: line 8: Map keys must be unique"],
  ],
  "invalid/empty.yaml": [["", 'encryption provider configuration file "invalid/empty.yaml" is empty']],
  "invalid/events-group.yaml": [
    [
      "resources[0].resources[0]",
      "resources[0].resources[0]: Invalid value: \"*.events.k8s.io\": '*.events.k8s.io' objects are stored using the 'events' API group in etcd. Use 'events' instead in the config file",
    ],
  ],
  "invalid/extensions-group.yaml": [
    [
      "resources[0].resources[0]",
      "resources[0].resources[0]: Invalid value: \"deployments.extensions\": 'extensions' group has been removed and cannot be used for encryption",
    ],
  ],
  "invalid/invalid-kind.yaml": [
    ["kind", 'no kind "EncryptionConfig" is registered for version "apiserver.config.k8s.io/v1"'],
  ],
  "invalid/key-not-base64.yaml": [
    [
      "resources[0].providers[0].aesgcm.keys[0].secret",
      'resources[0].providers[0].aesgcm.keys[0].secret: Invalid value: "REDACTED": secrets must be base64 encoded',
    ],
  ],
  "invalid/key-without-name.yaml": [
    [
      "resources[0].providers[0].aescbc.keys[0].name",
      "resources[0].providers[0].aescbc.keys[0].name: Required value: name is a mandatory field for a key",
    ],
  ],
  "invalid/key-without-secret.yaml": [
    [
      "resources[0].providers[0].aescbc.keys[0].secret",
      "resources[0].providers[0].aescbc.keys[0].secret: Required value: secret is a mandatory field for a key",
    ],
  ],
  "invalid/kms-negative-timeout.yaml": [
    [
      "resources[0].providers[0].kms.timeout",
      "resources[0].providers[0].kms.timeout: Invalid value: -1m30s: timeout should be a positive value",
    ],
  ],
  "invalid/kms-tcp-endpoint.yaml": [
    [
      "resources[0].providers[0].kms.endpoint",
      'resources[0].providers[0].kms.endpoint: Invalid value: "tcp://127.0.0.1:9000": unsupported scheme "tcp" for KMS provider, only unix is supported',
    ],
  ],
  "invalid/kms-unparsable-timeout.yaml": [
    [
      "resources[0].providers[0].kms.timeout",
      'resources[0].providers[0].kms.timeout: Invalid value: "3 seconds": time: invalid duration "3 seconds"',
    ],
  ],
  "invalid/kms-unsupported-apiversion.yaml": [
    [
      "resources[0].providers[0].kms.apiVersion",
      'resources[0].providers[0].kms.apiVersion: Invalid value: "v3": unsupported apiVersion apiVersion for KMS provider, only v1 and v2 are supported',
    ],
  ],
  "invalid/kms-without-endpoint.yaml": [
    [
      "resources[0].providers[0].kms.endpoint",
      'resources[0].providers[0].kms.endpoint: Invalid value: "": endpoint is a mandatory field for a kms',
    ],
  ],
  "invalid/kms-without-name.yaml": [
    [
      "resources[0].providers[0].kms.name",
      "resources[0].providers[0].kms.name: Required value: name is a mandatory field for a provider",
    ],
  ],
  "invalid/kms-zero-cachesize.yaml": [
    [
      "resources[0].providers[0].kms.cachesize",
      "resources[0].providers[0].kms.cachesize: Invalid value: 0: cachesize should be a positive value, or negative to disable",
    ],
  ],
  "invalid/kms-zero-timeout.yaml": [
    [
      "resources[0].providers[0].kms.timeout",
      "resources[0].providers[0].kms.timeout: Invalid value: 0s: timeout should be a positive value",
    ],
  ],
  "invalid/kmsv2-cachesize.yaml": [
    [
      "resources[0].providers[0].kms.cachesize",
      "resources[0].providers[0].kms.cachesize: Invalid value: 100: cachesize is not supported in v2",
    ],
  ],
  "invalid/kmsv2-duplicate-name.yaml": [
    [
      "resources[1].providers[0].kms.name",
      'resources[1].providers[0].kms.name: Invalid value: "dup": duplicate KMS provider name dup, names must be unique',
    ],
  ],
  "invalid/kmsv2-name-with-colon.yaml": [
    [
      "resources[0].providers[0].kms.name",
      "resources[0].providers[0].kms.name: Invalid value: \"a:b\": invalid KMS provider name a:b, must not contain ':'",
    ],
  ],
  "invalid/masked-by-any.yaml": [
    [
      "resources[1].resources[0]",
      'resources[1].resources[0]: Invalid value: "secrets": resource "secrets" is masked by earlier rule "*.*"',
    ],
  ],
  "invalid/masked-by-group-wildcard.yaml": [
    [
      "resources[1].resources[0]",
      'resources[1].resources[0]: Invalid value: "deployments.apps": resource "deployments.apps" is masked by earlier rule "*.apps"',
    ],
  ],
  "invalid/missing-kind.yaml": [["kind", "Object 'Kind' is missing"]],
  "invalid/more-than-one-provider.yaml": [
    [
      "resources[0].providers[0]",
      "resources[0].providers[0]: Invalid value: more than one provider specified in a single element, should split into different list elements",
    ],
  ],
  "invalid/no-provider-in-element.yaml": [
    [
      "resources[0].providers[0]",
      "resources[0].providers[0]: Invalid value: provider does not contain any of the expected providers: KMS, AESGCM, AESCBC, Secretbox, Identity",
    ],
  ],
  "invalid/no-resources.yaml": [
    ["resources", "resources: Required value: at least one resources is required"],
  ],
  "invalid/non-rest-resource.yaml": [
    [
      "resources[0].resources[0]",
      'resources[0].resources[0]: Invalid value: "serviceipallocations": resources which do not have REST API/s cannot be encrypted',
    ],
  ],
  "invalid/overlap.yaml": [
    [
      "resources[0].resources",
      "resources[0].resources: Invalid value: []string{\"secrets\", \"*.\"}: using overlapping resources such as 'secrets' and '*.' in the same resource list is not allowed as they will be masked",
    ],
  ],
  "invalid/resource-across-groups.yaml": [
    [
      "resources[0].resources[0]",
      'resources[0].resources[0]: Invalid value: "secrets.*": encrypting the same resource across groups is not supported',
    ],
  ],
  "invalid/rule-without-providers.yaml": [
    [
      "resources[0].providers",
      "resources[0].providers: Required value: at least one resources[0].providers is required",
    ],
  ],
  "invalid/rule-without-resources.yaml": [
    [
      "resources[0].resources",
      "resources[0].resources: Required value: at least one resources[0].resources is required",
    ],
  ],
  "invalid/secretbox-key-length.yaml": [
    [
      "resources[0].providers[0].secretbox.keys[0].secret",
      'resources[0].providers[0].secretbox.keys[0].secret: Invalid value: "REDACTED": secret is not of the expected length, got 16, expected one of [32]',
    ],
  ],
  "invalid/several-errors.yaml": [
    [
      "resources[0].resources",
      "resources[0].resources: Invalid value: []string{\"*\", \"Secrets\"}: using overlapping resources such as 'secrets' and '*.' in the same resource list is not allowed as they will be masked",
    ],
    [
      "resources[0].resources[0]",
      "resources[0].resources[0]: Invalid value: \"*\": use '*.' to encrypt all the resources from core API group or *.* to encrypt all resources",
    ],
    [
      "resources[0].resources[1]",
      'resources[0].resources[1]: Invalid value: "Secrets": resource name should not contain capital letters',
    ],
    [
      "resources[0].providers[0].kms.name",
      "resources[0].providers[0].kms.name: Invalid value: \"a:b\": invalid KMS provider name a:b, must not contain ':'",
    ],
    [
      "resources[0].providers[0].kms.timeout",
      "resources[0].providers[0].kms.timeout: Invalid value: 0s: timeout should be a positive value",
    ],
    [
      "resources[0].providers[0].kms.endpoint",
      'resources[0].providers[0].kms.endpoint: Invalid value: "http://localhost": unsupported scheme "http" for KMS provider, only unix is supported',
    ],
    [
      "resources[0].providers[1].aescbc.keys[0].name",
      "resources[0].providers[1].aescbc.keys[0].name: Required value: name is a mandatory field for a key",
    ],
    [
      "resources[0].providers[1].aescbc.keys[0].secret",
      'resources[0].providers[1].aescbc.keys[0].secret: Invalid value: "REDACTED": secret is not of the expected length, got 3, expected one of [16 24 32]',
    ],
    [
      "resources[0].providers[2]",
      "resources[0].providers[2]: Invalid value: provider does not contain any of the expected providers: KMS, AESGCM, AESCBC, Secretbox, Identity",
    ],
  ],
  "invalid/star-resource.yaml": [
    [
      "resources[0].resources[0]",
      "resources[0].resources[0]: Invalid value: \"*\": use '*.' to encrypt all the resources from core API group or *.* to encrypt all resources",
    ],
  ],
  "invalid/unknown-field.yaml": [
    [
      "resources[0].providers[0].aesgcm.keys[0].algorithm",
      'strict decoding error: unknown field "resources[0].providers[0].aesgcm.keys[0].algorithm"',
    ],
    [
      "resources[0].providers[0].aesgcm.rotate",
      'strict decoding error: unknown field "resources[0].providers[0].aesgcm.rotate"',
    ],
  ],
  "invalid/unknown-top-level-field.yaml": [["metadata", 'strict decoding error: unknown field "metadata"']],
  "invalid/wrong-type.yaml": [
    ["resources[0].resources", "resources[0].resources: Invalid value: expected array, got string"],
    [
      "resources[0].providers[0].kms.name",
      "resources[0].providers[0].kms.name: Invalid value: expected string, got integer",
    ],
    [
      "resources[0].providers[0].kms.cachesize",
      "resources[0].providers[0].kms.cachesize: Invalid value: expected integer, got number",
    ],
  ],
  "invalid/yaml-syntax.yaml": [
    [
      "",
      "error converting YAML to JSON: yaml: line 5: Flow sequence in block collection must be sufficiently indented and end with a ]",
    ],
  ],
};

describe("EncryptionConfiguration validation: one fixture per rule", () => {
  for (const [name, expected] of Object.entries(expectedIssues)) {
    test(name, () => {
      assert.deepEqual(issuesFor(name), expected);
    });
  }

  test("every invalid fixture has an expectation", () => {
    const files = readdirSync(`${fixtures}invalid`)
      .map((f) => `invalid/${f}`)
      .sort();
    assert.deepEqual(files, Object.keys(expectedIssues).sort());
  });

  test("the error message aggregates every issue and never shows key material", () => {
    const err = (() => {
      try {
        load("invalid/several-errors.yaml");
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    assert.ok(err);
    assert.match(
      err.message,
      /^invalid encryption provider configuration "invalid\/several-errors.yaml": \[/,
    );
    assert.equal(configIssuesOf(err).length, 9);
    const secretIn = (name: string) => /secret: (\S+)/.exec(read(name).toString())?.[1];
    for (const name of [
      "invalid/aes-key-length.yaml",
      "invalid/secretbox-key-length.yaml",
      "invalid/key-not-base64.yaml",
    ]) {
      const secret = secretIn(name);
      assert.ok(secret);
      try {
        load(name);
        assert.fail("accepted");
      } catch (e) {
        assert.ok(!(e as Error).message.includes(secret), `${name}: message leaks the secret`);
      }
    }
  });

  test("KMS v1 names must be unique only when automatic reload is on", () => {
    assert.doesNotThrow(() => load("valid/kms-v1-same-name-no-reload.yaml"));
    assert.deepEqual(issuesFor("valid/kms-v1-same-name-no-reload.yaml", { reload: true }), [
      [
        "resources[0].providers[1].kms.name",
        'resources[0].providers[1].kms.name: Invalid value: "dup": duplicate KMS provider name dup, names must be unique',
      ],
    ]);
  });
});

describe("EncryptionConfiguration: valid files", () => {
  test("every valid fixture loads into a frozen value", () => {
    for (const f of readdirSync(`${fixtures}valid`)) {
      const { config, contentHash } = load(`valid/${f}`);
      assert.ok(
        Object.isFrozen(config) && Object.isFrozen(config.resources) && Object.isFrozen(config.resources[0]),
      );
      assert.equal(contentHash, contentHashOf(read(`valid/${f}`)));
      assert.match(contentHash, /^sha256:[0-9a-f]{64}$/);
    }
  });

  test("two keys with one name are accepted, as kube-apiserver accepts them (the first writes, both read)", () => {
    const { config } = load("valid/duplicate-key-name.yaml");
    const provider = config.resources[0]?.providers[0];
    assert.equal(provider?.type, "aesgcm");
    assert.deepEqual(
      provider?.type === "aesgcm"
        ? provider.keys.map((k) => [k.name, Buffer.from(k.secret, "base64").length])
        : [],
      [
        ["key1", 32],
        ["key1", 16],
      ],
    );
  });

  test("providers keep their order and keys", () => {
    const { config } = load("valid/aesgcm-first.yaml");
    assert.deepEqual(config.resources[0]?.providers, [
      {
        type: "aesgcm",
        keys: [
          { name: "key1", secret: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" },
          { name: "key2", secret: "AAECAwQFBgcICQoLDA0ODw==" },
        ],
      },
      { type: "identity" },
    ]);
    assert.equal(load("valid/secretbox-first.yaml").config.resources[0]?.providers[0]?.type, "secretbox");
    assert.deepEqual(load("valid/aescbc-first.yaml").config.resources[0]?.resources, [
      "secrets",
      "configmaps",
    ]);
    assert.equal(load("valid/identity-first.yaml").config.resources[0]?.providers[0]?.type, "identity");
  });

  test("KMS defaults: apiVersion v1, cachesize 1000, timeout 3s", () => {
    const p = load("valid/kms-v1-defaults.yaml").config.resources[0]?.providers[0] as KmsProviderConfig;
    assert.deepEqual(p, {
      type: "kms",
      apiVersion: "v1",
      name: "kms-v1",
      endpoint: "unix:///tmp/kms-v1.sock",
      cacheSize: 1000,
      timeoutMs: 3000,
    });
    const neg = load("valid/kms-v1-negative-cachesize.yaml").config.resources[0]
      ?.providers[0] as KmsProviderConfig;
    assert.equal(neg.cacheSize, -1);
    assert.equal(neg.timeoutMs, 500);
    const v2 = load("valid/kms-v2.yaml").config.resources[0]?.providers[0] as KmsProviderConfig;
    assert.deepEqual(v2, {
      type: "kms",
      apiVersion: "v2",
      name: "kms-provider",
      endpoint: "unix:///@kms-abstract",
      timeoutMs: 90_000,
    });
    assert.equal("cacheSize" in v2, false);
  });

  test("the legacy apiVersion v1 / kind EncryptionConfig and JSON files are accepted", () => {
    const legacy = load("valid/legacy-kind.yaml").config;
    assert.equal(legacy.apiVersion, "v1");
    assert.equal(legacy.kind, "EncryptionConfig");
    assert.equal(load("valid/json.json").config.resources[0]?.providers[0]?.type, "aesgcm");
  });
});

describe("resource matching", () => {
  test("exact, then *.<group>, then *.*, else identity", () => {
    const { config } = load("valid/wildcards.yaml");
    const index = indexRules(config);
    const match = (r: string) => matchResource(index, r);
    assert.deepEqual(match("secrets"), { pattern: "secrets", ruleIndexes: [0] });
    assert.deepEqual(match("deployments.apps"), { pattern: "deployments.apps", ruleIndexes: [1] });
    assert.deepEqual(match("statefulsets.apps"), { pattern: "*.apps", ruleIndexes: [2] });
    assert.deepEqual(match("configmaps"), { pattern: "*.", ruleIndexes: [3] });
    assert.deepEqual(match("ingresses.networking.k8s.io"), { pattern: "*.*", ruleIndexes: [4] });
    assert.deepEqual(matchResource(index, { group: "", resource: "pods" }), {
      pattern: "*.",
      ruleIndexes: [3],
    });
  });

  test("no rule: identity (undefined)", () => {
    const index = indexRules(load("valid/aesgcm-first.yaml").config);
    assert.equal(matchResource(index, "configmaps"), undefined);
    assert.equal(matchResource(index, "secrets.example.com"), undefined);
  });

  test("a resource named by two rules reads with both, in file order", () => {
    const yaml = `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers: [{identity: {}}]
  - resources: [configmaps, secrets]
    providers: [{identity: {}}]
`;
    const index = indexRules(parseEncryptionConfiguration(yaml).config);
    assert.deepEqual(matchResource(index, "secrets")?.ruleIndexes, [0, 1]);
  });
});

test("fuzz finding: an alias without its anchor is a configuration error, not an untyped ReferenceError", () => {
  for (const text of ["*!", "resources: *a\n", "a: &a [1]\nb: *b\n"]) {
    assert.throws(
      () => parseEncryptionConfiguration(text),
      (e: unknown) => isAtrestError(e) && /error converting YAML to JSON: yaml: /.test(e.message),
      text,
    );
  }
});

test("a YAML syntax error never quotes the token it met (it was a key's secret)", () => {
  const secret = Buffer.alloc(32, 7).toString("base64");
  const text = `apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: ["secrets"]\n    providers:\n}      - aescbc:\n          keys:\n            - name: key1\n              secret: ${secret}\n`;
  assert.throws(
    () => parseEncryptionConfiguration(text),
    (e: unknown) =>
      isAtrestError(e, "invalid-argument") &&
      /line 6: Unexpected flow-map-end token in YAML stream/.test(e.message) &&
      !e.message.includes(secret) &&
      !JSON.stringify(e.details).includes(secret),
  );
  // `Not a YAML token: <source>` quoted the line without quotes.
  assert.throws(
    () =>
      parseEncryptionConfiguration(
        text
          .replace("}      - aescbc", "      - aescbc")
          .replace("              secret", ">              secret"),
      ),
    (e: unknown) =>
      isAtrestError(e, "invalid-argument") &&
      /line 9: Not a YAML token/.test(e.message) &&
      !e.message.includes(secret) &&
      !JSON.stringify(e.details).includes(secret),
  );
});
