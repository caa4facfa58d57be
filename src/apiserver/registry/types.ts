import type { AtrestError } from "../../common/errors.js";
import type { Watch } from "../../storage/decoded-value.js";
import type { KubeObject } from "../../kube-object/types.js";
import type { ListReadQuery } from "./list-read.js";

/** What the registry takes and gives: REST requests already parsed, objects in their JSON form. */

export interface ListQuery extends ListReadQuery {
  readonly limit?: number;
  readonly continueToken?: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
}

export interface ListPage {
  readonly items: KubeObject[];
  readonly resourceVersion: string;
  readonly continueToken?: string;
}

export interface WriteOptions {
  readonly dryRun: boolean;
  /**
   * Who writes, for metadata.managedFields: kube's `fieldManager`, else the user agent's prefix. An
   * empty name is recorded as "unknown"; without one (internal writes) nothing is recorded.
   */
  readonly fieldManager?: string;
  /**
   * Admission: runs on the validated object about to be written (and the current one, on updates; only
   * when something changes), on every attempt; throwing refuses the write. RBAC's escalation checks.
   */
  readonly admit?: (obj: KubeObject, old: KubeObject | undefined) => void;
}

/** A server-side apply: the manager is required, `force` takes fields other managers own. */
export interface ApplyOptions extends WriteOptions {
  readonly fieldManager: string;
  readonly force: boolean;
}

export interface ApplyResult {
  readonly object: KubeObject;
  /** The apply created the object (HTTP 201). */
  readonly created: boolean;
}

export interface DeleteOptions extends WriteOptions {
  readonly preconditions?: { uid?: string; resourceVersion?: string };
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED";

export interface WatchHandle extends Watch {
  /** Every store event up to this revision has been handled (what a BOOKMARK may promise). */
  progressRevision(): number;
}

export interface WatchSink {
  event(type: WatchEventType, object: KubeObject): void;
  error(err: AtrestError): void;
}
