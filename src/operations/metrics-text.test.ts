import { test } from "node:test";
import assert from "node:assert/strict";
import { samplesOf } from "./metrics-text.js";

test("samples of one metric: labels unescaped, other metrics with the same prefix ignored", () => {
  const body = [
    "# HELP apiserver_encryption_config_controller_last_config_info [ALPHA] Information about the last applied encryption configuration",
    "# TYPE apiserver_encryption_config_controller_last_config_info gauge",
    'apiserver_encryption_config_controller_last_config_info{apiserver_id_hash="sha256:14f9",hash="sha256:6bc9"} 1',
    'apiserver_encryption_config_controller_last_config_info_extra{hash="x"} 3',
    'odd_metric{path="a\\"b\\\\c\\n"} 2.5',
    "bare_metric 7",
  ].join("\n");
  assert.deepEqual(samplesOf(body, "apiserver_encryption_config_controller_last_config_info"), [
    {
      name: "apiserver_encryption_config_controller_last_config_info",
      labels: { apiserver_id_hash: "sha256:14f9", hash: "sha256:6bc9" },
      value: 1,
    },
  ]);
  assert.deepEqual(samplesOf(body, "odd_metric")[0]?.labels, { path: 'a"b\\c\n' });
  assert.equal(samplesOf(body, "bare_metric")[0]?.value, 7);
  assert.deepEqual(samplesOf(body, "absent"), []);
});
