/**
 * `npm run bench -- envelope`: throughput for 1 KiB values of raw AES-256-GCM (node crypto, the floor)
 * beside the aesgcm provider, KMS v2 write and read (in-process fake plugin; the seed state is primed,
 * so no plugin call is on the hot path, as in kube-apiserver) and KMS v1 write (one plugin Encrypt per
 * write, the fake answering in-process). Rounds are interleaved; each figure is the median of its rounds.
 * Goal (issue 2): KMS v2 write ≥ 0.5× and read ≥ 0.6× raw AES-256-GCM.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { FakeKmsV1Service, FakeKmsV2Service } from "../test/support/fake-kms-v2-service.js";
import { contextForKey, newAesGcmTransformer, newKmsV1Transformer, newKmsV2Transformer } from "../src/envelope/index.js";

const VALUE_BYTES = 1024;
const ROUND_MS = 1200;
const ROUNDS = 3;

type Op = () => unknown;

async function measure(op: Op, ms: number): Promise<number> {
  // Warm-up, then as many operations as fit in `ms`, checking the clock every 64 operations.
  for (let i = 0; i < 200; i++) await op();
  const start = process.hrtime.bigint();
  const limit = BigInt(ms) * 1_000_000n;
  let n = 0;
  for (;;) {
    for (let i = 0; i < 64; i++) await op();
    n += 64;
    const elapsed = process.hrtime.bigint() - start;
    if (elapsed >= limit) return (n * 1e9) / Number(elapsed);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export async function run(): Promise<Record<string, unknown>> {
  const plaintext = randomBytes(VALUE_BYTES);
  const ctx = contextForKey("/registry/secrets/default/bench-secret");
  const key = randomBytes(32);

  const rawSeal = () => {
    const nonce = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", key, nonce);
    c.setAAD(ctx.aad);
    return Buffer.concat([nonce, c.update(plaintext), c.final(), c.getAuthTag()]);
  };
  const sealed = rawSeal();
  const rawOpen = () => {
    const d = createDecipheriv("aes-256-gcm", key, sealed.subarray(0, 12));
    d.setAuthTag(sealed.subarray(sealed.length - 16));
    d.setAAD(ctx.aad);
    return Buffer.concat([d.update(sealed.subarray(12, sealed.length - 16)), d.final()]);
  };

  const aesgcm = newAesGcmTransformer([{ name: "key1", secret: key }]);
  const aesgcmStored = await aesgcm.transformToStorage(plaintext, ctx);

  const kms2 = newKmsV2Transformer({ providerName: "bench", service: new FakeKmsV2Service() });
  await kms2.healthCheck();
  const kms2Stored = await kms2.transformToStorage(plaintext, ctx);
  const kms1Service = new FakeKmsV1Service();
  const kms1 = newKmsV1Transformer({ providerName: "bench", service: kms1Service });

  const subjects: Record<string, Op> = {
    rawAes256GcmSeal: rawSeal,
    rawAes256GcmOpen: rawOpen,
    aesgcmProviderWrite: () => aesgcm.transformToStorage(plaintext, ctx),
    aesgcmProviderRead: () => aesgcm.transformFromStorage(aesgcmStored, ctx),
    kmsV2Write: () => kms2.transformToStorage(plaintext, ctx),
    kmsV2Read: () => kms2.transformFromStorage(kms2Stored, ctx),
    kmsV1Write: () => kms1.transformToStorage(plaintext, ctx),
  };
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(subjects).map((k) => [k, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, op] of Object.entries(subjects)) samples[name]!.push(await measure(op, ROUND_MS));
  }
  const opsPerSec = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, Math.round(median(v))]));
  const r = (a: string, b: string) => Math.round((opsPerSec[a]! / opsPerSec[b]!) * 1000) / 1000;
  const ratios = {
    kmsV2WriteVsRawSeal: r("kmsV2Write", "rawAes256GcmSeal"),
    kmsV2ReadVsRawOpen: r("kmsV2Read", "rawAes256GcmOpen"),
    kmsV2ReadVsRawSeal: r("kmsV2Read", "rawAes256GcmSeal"),
    aesgcmWriteVsRawSeal: r("aesgcmProviderWrite", "rawAes256GcmSeal"),
    aesgcmReadVsRawOpen: r("aesgcmProviderRead", "rawAes256GcmOpen"),
    kmsV1WriteVsRawSeal: r("kmsV1Write", "rawAes256GcmSeal"),
  };
  return {
    valueBytes: VALUE_BYTES,
    roundMs: ROUND_MS,
    rounds: ROUNDS,
    opsPerSec,
    ratios,
    goals: {
      kmsV2WriteAtLeastHalfOfRaw: ratios.kmsV2WriteVsRawSeal >= 0.5,
      kmsV2ReadAtLeast60PercentOfRaw: ratios.kmsV2ReadVsRawOpen >= 0.6,
    },
    kmsV1PluginEncryptCalls: kms1Service.calls.encrypt,
  };
}
