/**
 * The cached health check behind Status and /healthz. One check = Encrypt a fixed probe and Decrypt the
 * result, so "ok" proves both work and the key_id is the one Encrypt really uses. Checks run at start and
 * then once per `refreshMs`, whatever the Status poll rate (an apiserver polling every 10 s must not
 * multiply KMS calls). A failed check keeps the last good key_id: an outage is not a rotation.
 */
import type { Logger } from "pino";
import { AtrestError, type ErrorCode } from "../common/errors.js";
import type { Clock, Timer } from "../common/clock.js";
import type { Random } from "../common/random.js";
import { keyIdHash } from "../common/key-id-hash.js";
import type { KmsBackend } from "./backend.js";

/** Early checks (see noteEncryptKeyId) are at least this far apart. */
const EARLY_CHECK_MIN_GAP_MS = 10_000;
// Fixed probe plaintext; not secret, never stored.
const PROBE_PLAINTEXT = Buffer.from("atrest-plugin-status-probe-v1", "utf8");

export interface HealthSnapshot {
  readonly healthy: boolean;
  /** "ok", or why not (a clear, non-secret reason). */
  readonly reason: string;
  readonly errorCode?: ErrorCode;
  /** The last key_id a successful check saw; "" before the first success. */
  readonly keyId: string;
  readonly checkedAtMs?: number;
  readonly checks: number;
}

export interface StatusCheckOptions {
  readonly backend: KmsBackend;
  readonly refreshMs: number;
  readonly probeTimeoutMs: number;
  readonly clock: Clock;
  readonly random: Random;
  readonly logger: Logger;
  readonly onChange?: (snapshot: HealthSnapshot, previous: HealthSnapshot) => void;
}

export class StatusCheck {
  private snapshotValue: HealthSnapshot = {
    healthy: false,
    reason: "the first KMS check has not finished",
    keyId: "",
    checks: 0,
  };
  private inFlight: Promise<HealthSnapshot> | undefined;
  private timer: Timer | undefined;
  private firstCheck: Promise<HealthSnapshot> | undefined;
  private stopped = false;
  private lastEarlyCheckMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: StatusCheckOptions) {}

  /** Runs the first check in the background and schedules the next ones. */
  start(): void {
    this.firstCheck = this.runCheck();
  }

  snapshot(): HealthSnapshot {
    return this.snapshotValue;
  }

  /** The snapshot once the first check is done (or `waitMs` passed, whichever comes first). */
  async settled(waitMs: number): Promise<HealthSnapshot> {
    if (this.firstCheck === undefined || this.snapshotValue.checks > 0) return this.snapshotValue;
    let timer: Timer | undefined;
    const timeout = new Promise<HealthSnapshot>((resolve) => {
      timer = this.options.clock.setTimeout(() => resolve(this.snapshotValue), Math.max(0, waitMs));
    });
    try {
      return await Promise.race([this.firstCheck, timeout]);
    } finally {
      if (timer !== undefined) this.options.clock.clearTimeout(timer);
    }
  }

  /** Runs a check now unless one is running (then shares it). Used at start and by the timer. */
  runCheck(): Promise<HealthSnapshot> {
    this.inFlight ??= this.check().finally(() => {
      this.inFlight = undefined;
      this.schedule();
    });
    return this.inFlight;
  }

  /**
   * A real Encrypt just used `keyId`. When it differs from what Status reports, the KMS rotated since the
   * last check, and kube-apiserver refuses a new seed whose Encrypt key_id differs from Status's — so
   * check now rather than at the next interval. Bounded: at most one such early check per
   * min(refreshMs, 10 s), and only while the two disagree.
   */
  noteEncryptKeyId(keyId: string): void {
    const current = this.snapshotValue;
    if (this.stopped || this.inFlight !== undefined || current.checks === 0 || keyId === current.keyId)
      return;
    const now = this.options.clock.now();
    if (now - this.lastEarlyCheckMs < Math.min(this.options.refreshMs, EARLY_CHECK_MIN_GAP_MS)) return;
    this.lastEarlyCheckMs = now;
    this.options.logger.info({ keyIdHash: keyIdHash(keyId) }, "encrypt saw a new key_id; checking now");
    void this.runCheck();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.options.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Resolves when no check is running; after stop() none starts again (a check never rejects). */
  async idle(): Promise<void> {
    await this.inFlight;
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.timer !== undefined) this.options.clock.clearTimeout(this.timer);
    this.timer = this.options.clock.setTimeout(() => {
      this.timer = undefined;
      void this.runCheck();
    }, this.options.refreshMs);
    this.timer.unref?.();
  }

  private async check(): Promise<HealthSnapshot> {
    const { backend, clock } = this.options;
    const uid = `status-probe-${this.options.random.uuid()}`;
    const ctx = { uid, deadlineMs: clock.now() + this.options.probeTimeoutMs };
    const previous = this.snapshotValue;
    let next: HealthSnapshot;
    try {
      const sealed = await backend.encrypt(PROBE_PLAINTEXT, ctx);
      const opened = await backend.decrypt(
        { ciphertext: sealed.ciphertext, keyId: sealed.keyId, annotations: sealed.annotations },
        ctx,
      );
      if (!opened.equals(PROBE_PLAINTEXT))
        throw new AtrestError("data-corrupt", "the KMS round trip returned a different plaintext");
      next = {
        healthy: true,
        reason: "ok",
        keyId: sealed.keyId,
        checkedAtMs: clock.now(),
        checks: previous.checks + 1,
      };
    } catch (err) {
      const atrest =
        err instanceof AtrestError
          ? err
          : new AtrestError("internal", "the KMS check failed unexpectedly", { cause: err });
      next = {
        healthy: false,
        reason: atrest.message,
        errorCode: atrest.code,
        keyId: previous.keyId,
        checkedAtMs: clock.now(),
        checks: previous.checks + 1,
      };
    }
    this.snapshotValue = next;
    if (
      next.healthy !== previous.healthy ||
      next.keyId !== previous.keyId ||
      next.reason !== previous.reason
    ) {
      const fields = {
        uid,
        healthy: next.healthy,
        keyIdHash: next.keyId ? keyIdHash(next.keyId) : "",
        ...(next.healthy ? {} : { reason: next.reason, errorCode: next.errorCode }),
      };
      if (next.keyId !== previous.keyId && previous.keyId !== "")
        this.options.logger.info(fields, "key rotated");
      else if (next.healthy) this.options.logger.info(fields, "kms healthy");
      else this.options.logger.warn(fields, "kms unhealthy");
      this.options.onChange?.(next, previous);
    }
    return next;
  }
}
