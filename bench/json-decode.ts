/**
 * `npm run bench -- json-decode`: what decodeJson (Go's depth limit and error texts, issue 16) costs
 * over a bare JSON.parse on request bodies: a 1.9 MB Secret (base64 data, the apiserver bench's size)
 * and a small one. Baseline: JSON.parse of the same text in the same run.
 */
import { decodeJson } from "../src/common/json-decode.js";

function perCallMs(fn: () => void, minMs = 400): number {
  for (let i = 0; i < 3; i++) fn();
  let n = 0;
  const started = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < minMs) {
    fn();
    n++;
    elapsed = Number(process.hrtime.bigint() - started) / 1e6;
  }
  return elapsed / n;
}

export function run(): Promise<Record<string, unknown>> {
  const bodies = {
    "secret-1.9MB": Buffer.from(
      JSON.stringify({
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "big", labels: { a: "b" } },
        data: {
          a: Buffer.alloc(700_000, 7).toString("base64"),
          b: Buffer.alloc(700_000, 9).toString("base64"),
        },
      }),
    ),
    "secret-small": Buffer.from(
      JSON.stringify({ apiVersion: "v1", kind: "Secret", metadata: { name: "s" }, data: { k: "dmFsdWU=" } }),
    ),
  };
  const results: Record<string, unknown> = {};
  for (const [name, body] of Object.entries(bodies)) {
    // Interleaved rounds, best of each: the machine is shared and the first loop pays for warm-up.
    let baseline = Infinity;
    let subject = Infinity;
    for (let round = 0; round < 3; round++) {
      baseline = Math.min(
        baseline,
        perCallMs(() => void JSON.parse(body.toString("utf8")), 200),
      );
      subject = Math.min(
        subject,
        perCallMs(() => void decodeJson(body), 200),
      );
    }
    results[name] = {
      bytes: body.length,
      jsonParseMs: Number(baseline.toFixed(4)),
      decodeJsonMs: Number(subject.toFixed(4)),
      ratio: Number((subject / baseline).toFixed(2)),
    };
  }
  return Promise.resolve(results);
}
