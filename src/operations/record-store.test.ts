import { test } from "node:test";
import assert from "node:assert/strict";
import { AtrestError, isAtrestError } from "../common/errors.js";
import { ManualClock } from "../common/clock.js";
import { systemRandom } from "../common/random.js";
import { LeaseHolder, RecordStore, type RecordApi } from "./record-store.js";

/**
 * The record ConfigMap in memory, with kube's compare-and-swap on resourceVersion, and a knob that
 * takes the apiserver away (every call fails as a refused connection does through KubeClient).
 */
class FakeConfigMaps implements RecordApi {
  down = false;
  calls = 0;
  private stored: { metadata: { resourceVersion?: string } } | undefined;
  private rv = 1;

  private reach(): void {
    this.calls++;
    if (this.down) throw new AtrestError("unavailable", "cannot reach the apiserver: connect ECONNREFUSED");
  }

  getJson<T>(): Promise<T> {
    this.reach();
    if (this.stored === undefined) return Promise.reject(new AtrestError("not-found", "HTTP 404 NotFound"));
    return Promise.resolve(structuredClone(this.stored) as T);
  }

  postJson<T>(_path: string, body: unknown): Promise<T> {
    this.reach();
    if (this.stored !== undefined)
      return Promise.reject(new AtrestError("already-exists", "HTTP 409 AlreadyExists"));
    return Promise.resolve(this.write(body) as T);
  }

  putJson<T>(_path: string, body: unknown): Promise<T> {
    this.reach();
    const sent = (body as { metadata: { resourceVersion?: string } }).metadata.resourceVersion;
    if (this.stored === undefined || sent !== this.stored.metadata.resourceVersion)
      return Promise.reject(new AtrestError("conflict", "HTTP 409 Conflict"));
    return Promise.resolve(this.write(body) as T);
  }

  private write(body: unknown): unknown {
    const cm = structuredClone(body) as { metadata: { resourceVersion?: string } };
    cm.metadata.resourceVersion = String(++this.rv);
    this.stored = cm;
    return structuredClone(cm);
  }
}

const LEASE_MS = 3_000;

/** Lets the promises a fired timer started (a background renewal) run to their end. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

async function acquired(api: FakeConfigMaps, clock: ManualClock, owner = "a@host pid 1") {
  const records = new RecordStore(api, clock, 0);
  const lease = new LeaseHolder(records, clock, systemRandom, LEASE_MS, owner);
  const written = await records.update(() => ({ record: undefined, lease: lease.lease("op-1") }));
  lease.held(written.lease!);
  return { records, lease };
}

test("a lease that expired during an outage is not lost: confirm() renews it by CAS once the apiserver is back", async () => {
  const api = new FakeConfigMaps();
  const clock = new ManualClock();
  const { records, lease } = await acquired(api, clock);
  lease.startRenewing();
  api.down = true;
  for (let i = 0; i < 4; i++) {
    clock.advance(LEASE_MS / 2);
    await settle();
  }
  // Two lease durations without a renewal that got through: expired, but nobody took it.
  assert.doesNotThrow(() => lease.check(), "check() throws only once the lease is known to be lost");
  await assert.rejects(lease.confirm(), (err: unknown) => {
    assert.ok(isAtrestError(err, "unavailable"), `the outage is reported as such: ${String(err)}`);
    return true;
  });
  assert.doesNotThrow(() => lease.check(), "an unanswered confirm() does not lose the lease");

  api.down = false;
  await lease.confirm();
  lease.check();
  const now = await records.read();
  assert.equal(now.lease?.holder, lease.holder);
  assert.ok(Date.parse(now.lease.expiresAt) > clock.now(), "the lease in the cluster is live again");
  lease.stop();
});

test("confirm() right after a renewal does not call the apiserver; later it renews", async () => {
  const api = new FakeConfigMaps();
  const clock = new ManualClock();
  const { records, lease } = await acquired(api, clock);
  const before = api.calls;
  await lease.confirm();
  assert.equal(api.calls, before, "renewed recently: nothing to ask");
  clock.advance(LEASE_MS);
  await lease.confirm();
  assert.ok(api.calls > before, "past half the duration: renewed by compare-and-swap");
  assert.equal((await records.read()).lease?.expiresAt, new Date(clock.now() + LEASE_MS).toISOString());
});

test("a lease taken over meanwhile (--force, or a resume after it expired) is lost: confirm() and check() throw conflict", async () => {
  const api = new FakeConfigMaps();
  const clock = new ManualClock();
  const { records, lease } = await acquired(api, clock);
  api.down = true;
  clock.advance(LEASE_MS * 2);
  api.down = false;
  // Another machine sees the expired lease and takes it.
  const other = new LeaseHolder(records, clock, systemRandom, LEASE_MS, "b@elsewhere pid 2");
  other.held((await records.update((s) => ({ record: s.record, lease: other.lease("op-1") }))).lease!);

  await assert.rejects(lease.confirm(), (err: unknown) => {
    assert.ok(isAtrestError(err, "conflict"), String(err));
    assert.match((err as Error).message, /lease was lost: taken over by b@elsewhere pid 2/);
    return true;
  });
  assert.throws(() => lease.check(), /lease was lost/);
  assert.equal((await records.read()).lease?.holder, other.holder, "the loser did not write the lease back");
});

test("the background renewal notices a takeover: check() throws at the next checkpoint", async () => {
  const api = new FakeConfigMaps();
  const clock = new ManualClock();
  const { records, lease } = await acquired(api, clock);
  lease.startRenewing();
  const other = new LeaseHolder(records, clock, systemRandom, LEASE_MS, "b@elsewhere pid 2");
  await records.update((s) => ({ record: s.record, lease: other.lease("op-1") }));
  lease.check();
  clock.advance(LEASE_MS / 3);
  await settle();
  assert.throws(() => lease.check(), /taken over by b@elsewhere/);
  lease.stop();
});
