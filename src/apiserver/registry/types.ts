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
   * Admission: runs on the validated object about to be written (and the current one, on updates; only
   * when something changes), on every attempt; throwing refuses the write. RBAC's escalation checks.
   */
  readonly admit?: (obj: KubeObject, old: KubeObject | undefined) => void;
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
