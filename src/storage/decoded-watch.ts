import { AtrestError } from "../common/errors.js";
import type { DecodedValue, DecodedWatchEvent, DecodedWatchHandlers, Watch } from "./decoded-value.js";
import type { KeyValue, Store, WatchEvent } from "./store.js";
import { deliverWatchEvent } from "./store-errors.js";
import { transformError } from "./transformation-record.js";

/** The transforming store's watch: the raw store's events, decoded one after another, in revision order. */

export interface DecodedWatchInternals {
  readonly decode: (kv: KeyValue) => Promise<DecodedValue>;
  readonly decodePrevOnPut: boolean;
  readonly decodePrevOnDelete: boolean;
  /** A delete event passed by: the key's cached value, if older, is no longer current. */
  readonly deleted: (key: string, modRevision: number) => void;
}

export async function watchDecoded(
  raw: Store,
  prefix: string,
  fromRevision: number,
  handlers: DecodedWatchHandlers,
  internals: DecodedWatchInternals,
): Promise<Watch> {
  let chain = Promise.resolve();
  let cancelled = false;
  const started: { watch?: Watch } = {};
  const end = (): void => {
    cancelled = true;
    void started.watch?.cancel();
  };
  const watch = await raw.watch(prefix, fromRevision, {
    onEvent: (event) => {
      // Decoding is asynchronous; the chain keeps the events in revision order.
      chain = chain.then(async () => {
        if (cancelled) return;
        const decoded = await decodeEvent(event, internals);
        if (!cancelled && !deliverWatchEvent(handlers, decoded)) end();
      });
    },
    onError: (err) => {
      chain = chain.then(() => {
        if (cancelled) return;
        cancelled = true;
        try {
          handlers.onError(err);
        } catch {
          // The watch is over either way.
        }
      });
    },
  });
  started.watch = watch;
  return {
    cancel: async () => {
      cancelled = true;
      await watch.cancel();
    },
  };
}

async function decodeEvent(event: WatchEvent, internals: DecodedWatchInternals): Promise<DecodedWatchEvent> {
  const key = event.type === "put" ? event.kv.key : event.key;
  const modRevision = event.type === "put" ? event.kv.modRevision : event.modRevision;
  try {
    if (event.type === "put") {
      const prev =
        event.prevKv === undefined || !internals.decodePrevOnPut
          ? undefined
          : await internals.decode(event.prevKv);
      const value = await internals.decode(event.kv);
      return prev === undefined ? { type: "put", value } : { type: "put", value, prev };
    }
    const prev =
      event.prevKv === undefined || !internals.decodePrevOnDelete
        ? undefined
        : await internals.decode(event.prevKv);
    // After decoding: the deleted value is not kept (decoding it may have cached it again).
    internals.deleted(key, modRevision);
    return prev === undefined
      ? { type: "delete", key, modRevision }
      : { type: "delete", key, modRevision, prev };
  } catch (err) {
    return { type: "undecodable", key, modRevision, error: asAtrestError(err, key) };
  }
}

function asAtrestError(err: unknown, key: string): AtrestError {
  // decode() already raises the transformation's error; anything else is wrapped the same way.
  return err instanceof AtrestError ? err : transformError(err, key, "from_storage");
}
