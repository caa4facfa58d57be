import type { AccessStore } from "../access-store.js";
import type { Params } from "../key-params.js";
import type { KeyService } from "../keys/index.js";

export interface ActionContext {
  readonly keys: KeyService;
  readonly access: AccessStore;
  readonly region: string;
  readonly accountId: string;
  readonly principal: string;
}

/** A resource the policy check evaluates; the request is allowed on it if any of `arns` is allowed. */
export interface ResolvedResource {
  readonly arns: readonly string[];
  readonly keyId?: string;
  readonly keyVersionId?: string;
  /**
   * The resource does not exist. Raised only after the policy check allowed `arns` (what the caller
   * named), so a caller not allowed on it gets the same 403 as for one that exists: no existence oracle.
   */
  readonly notFound?: Error;
}

export interface ActionResult {
  readonly body: Record<string, unknown>;
  readonly keyId?: string;
  readonly keyVersionId?: string;
  /** The action overrode a refusal with Force=true (its audit record says so). */
  readonly forced?: true;
}

/** A request whose parameters are parsed and whose resources are resolved, ready to run once allowed. */
export interface PreparedAction {
  readonly resources: readonly ResolvedResource[];
  run(): Promise<ActionResult>;
}

export interface ActionSpec {
  /**
   * True for actions that change nothing stored (cryptography, describe, list). Every other action's
   * success is made durable (KmsDb.sync) before it is answered, so forgetting the flag costs an fsync.
   */
  readonly readOnly?: true;
  /**
   * Parses and validates the parameters (once) and resolves what the request acts on, before the
   * policy check; changes nothing. The handler runs the result only after the policy allowed it.
   */
  prepare(p: Params, ctx: ActionContext): Promise<PreparedAction>;
}
