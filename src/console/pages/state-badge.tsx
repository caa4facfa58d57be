import { useT, type MessageKey } from "../i18n.js";
import { Badge } from "../ui.js";

const KNOWN = new Set(["running", "updating", "failed"]);

/** ACK's cluster state as the console shows it: Running, Updating, Failed (others as ACK spells them). */
export function StateBadge({ state }: { state: string }) {
  const { t } = useT();
  const tone =
    state === "running" ? "ok" : state === "updating" ? "busy" : state === "failed" ? "bad" : "muted";
  return <Badge tone={tone}>{KNOWN.has(state) ? t(`state.${state}` as MessageKey) : state}</Badge>;
}
