import { isPlainObject } from "../../kube-object/types.js";

/**
 * metav1.LabelSelector (matchLabels, matchExpressions) as kube's LabelSelectorAsSelector reads it: an
 * empty selector selects everything; requirements are ANDed.
 */
export function labelSelectorMatches(selector: unknown, labels: Readonly<Record<string, unknown>>): boolean {
  if (!isPlainObject(selector)) return false;
  const has = (k: string): boolean => Object.prototype.hasOwnProperty.call(labels, k);
  if (isPlainObject(selector.matchLabels))
    for (const [k, v] of Object.entries(selector.matchLabels)) if (!has(k) || labels[k] !== v) return false;
  const exprs = Array.isArray(selector.matchExpressions) ? selector.matchExpressions : [];
  for (const e of exprs) {
    if (!isPlainObject(e) || typeof e.key !== "string") return false;
    const values = Array.isArray(e.values) ? e.values : [];
    const value = labels[e.key];
    switch (e.operator) {
      case "In":
        if (!has(e.key) || !values.includes(value)) return false;
        break;
      case "NotIn":
        if (has(e.key) && values.includes(value)) return false;
        break;
      case "Exists":
        if (!has(e.key)) return false;
        break;
      case "DoesNotExist":
        if (has(e.key)) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}
