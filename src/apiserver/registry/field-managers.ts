import type { Clock } from "../../common/clock.js";
import { FieldManager, FieldSet, typeOfSchema } from "../apply/index.js";
import type { ResourceInfo } from "../resources.js";
import { rfc3339 } from "../../kube-object/types.js";

/**
 * One field manager per served kind, as kube builds one per resource endpoint. A main resource's
 * reset fields (its status, where the kind has one) are owned by no one through it.
 */
export class FieldManagers {
  private readonly byKind = new Map<string, FieldManager>();

  constructor(private readonly clock: Clock) {}

  /** The manager of the resource, or of its status subresource (where only the status is owned). */
  for(info: ResourceInfo, subresource?: "status"): FieldManager {
    const key = `${info.apiVersion}/${info.kind}/${subresource ?? ""}`;
    let fm = this.byKind.get(key);
    if (fm === undefined) {
      const ignored =
        subresource === "status"
          ? FieldSet.of([{ field: "spec" }])
          : info.statusSubresource === true || RESET_STATUS.has(info.kind)
            ? FieldSet.of([{ field: "status" }])
            : undefined;
      fm = new FieldManager({
        kind: info.kind,
        groupVersion: info.apiVersion,
        type: typeOfSchema(info.schema),
        ...(ignored === undefined ? {} : { ignored }),
        ...(subresource === undefined ? {} : { subresource }),
        now: () => rfc3339(this.clock.now()),
      });
      this.byKind.set(key, fm);
    }
    return fm;
  }
}

/**
 * Kinds whose strategy resets status on writes to the main resource (kube's GetResetFields), besides
 * those with a status subresource.
 */
const RESET_STATUS = new Set(["Namespace"]);
