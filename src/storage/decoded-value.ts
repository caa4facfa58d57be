import type { AtrestError } from "../common/errors.js";
import type { ValueOrigin } from "../envelope/transformer.js";
import type { Watch } from "./store.js";

/** What the transforming store hands up: object bytes (plaintext), never the stored ciphertext. */

export interface DecodedValue {
  readonly key: string;
  /** The object bytes (JSON or kube protobuf), as the transformer returned them. */
  readonly data: Buffer;
  /** The value should be rewritten: it was written by another provider, key or key_id than the current one. */
  readonly stale: boolean;
  /**
   * How the stored bytes were read. Absent when the value comes from the decrypted-object cache of a
   * write made through this store (the first provider wrote it, so it is not stale).
   */
  readonly origin?: ValueOrigin;
  readonly modRevision: number;
  readonly createRevision: number;
}

/** What a write returns: the new revision of the bytes the caller passed. */
export interface WrittenValue {
  readonly key: string;
  readonly data: Buffer;
  readonly modRevision: number;
  readonly createRevision: number;
}

export interface DecodedList {
  readonly items: DecodedValue[];
  readonly revision: number;
  readonly more: boolean;
}

export type DecodedWatchEvent =
  | { readonly type: "put"; readonly value: DecodedValue; readonly prev?: DecodedValue }
  | {
      readonly type: "delete";
      readonly key: string;
      readonly modRevision: number;
      readonly prev?: DecodedValue;
    }
  /** A value in the stream that does not decode; the error names the key and never holds plaintext. */
  | {
      readonly type: "undecodable";
      readonly key: string;
      readonly modRevision: number;
      readonly error: AtrestError;
    };

export interface DecodedWatchHandlers {
  onEvent(event: DecodedWatchEvent): void;
  onError(err: Error): void;
}

export interface DecodedWatchOptions {
  /**
   * Decode the previous value of a put too (default true). kube's watcher decodes it only for deletes
   * and for watches with a filter, which need it to tell "left the selection" from "changed".
   */
  readonly decodePrevOnPut?: boolean;
  /**
   * Decode the previous value of a delete (default true). A watcher that keeps the objects itself (the
   * apiserver's watch cache) knows what was deleted without it.
   */
  readonly decodePrevOnDelete?: boolean;
}

/** A value in a list that does not decode (listWithErrors): its key, revision and the error. */
export interface UndecodableValue {
  readonly key: string;
  readonly modRevision: number;
  readonly error: AtrestError;
}

export type { Watch };

/**
 * What `guaranteedUpdate`'s function returns: the new object bytes, or undefined when the object is
 * unchanged (then a stale value is still rewritten, as it is; a current one is left alone).
 */
export type UpdateFn = (current: DecodedValue) => Promise<Uint8Array | undefined> | Uint8Array | undefined;

export interface GuaranteedUpdateOptions {
  /** Read and run the function, but write nothing; returns what would be stored. */
  readonly dryRun?: boolean;
}

export interface DeleteConditions {
  /** Delete only at this revision: "conflict" otherwise, without a retry. */
  readonly expectedModRevision?: number;
  /**
   * Runs with the current value before each attempt (kube's preconditions and validateDeletion): throw to
   * refuse. It also runs on a dry run.
   */
  readonly beforeDelete?: (current: DecodedValue) => Promise<void> | void;
  /** Read and check, but delete nothing. */
  readonly dryRun?: boolean;
}
