import { iamError } from "../iam-error.js";
import type { TrailEvent } from "./trail-event.js";

/**
 * LookupEvents over several event sources (the KMS's audit trail, the identity services' and the
 * control plane's trail table): each source answers in ActionTrail's order (newest first) after a
 * cursor, and the answers are merged. The NextToken is the cursor of the last event returned.
 */
export interface EventFilters {
  readonly eventName?: string;
  readonly serviceName?: string;
  /** A user, a role (matches its sessions' events) or `<role>:<session>`; case-insensitive. */
  readonly user?: string;
  readonly eventId?: string;
  readonly resourceName?: string;
  readonly resourceType?: string;
  readonly eventRW?: "Read" | "Write";
  readonly accessKeyId?: string;
}

/** A position in the merged order: (time desc, source rank asc, seq desc). */
export interface EventCursor {
  readonly time: number;
  readonly rank: number;
  readonly seq: number;
}

export interface SourceQuery {
  readonly filters: EventFilters;
  readonly startMs: number;
  readonly endMs: number;
  /** Only events after this position (in the merged order). */
  readonly after?: EventCursor;
  readonly limit: number;
}

export interface SourcedEvent {
  readonly time: number;
  readonly seq: number;
  readonly event: TrailEvent;
}

export interface EventSource {
  /** Breaks ties between sources at the same millisecond; unique per source. */
  readonly rank: number;
  /** Up to `limit` events in order (time desc, seq desc), strictly after the cursor. */
  lookup(q: SourceQuery): Promise<SourcedEvent[]>;
}

/** The time condition "after the cursor" for a source of rank `rank`, as bounds a source can apply. */
export function afterCursor(
  after: EventCursor | undefined,
  rank: number,
): { beforeTime?: number; atOrBeforeTime?: number; atTimeBeforeSeq?: { time: number; seq: number } } {
  if (after === undefined) return {};
  if (rank > after.rank) return { atOrBeforeTime: after.time };
  if (rank < after.rank) return { beforeTime: after.time };
  return { beforeTime: after.time, atTimeBeforeSeq: { time: after.time, seq: after.seq } };
}

export interface LookupResult {
  readonly events: TrailEvent[];
  readonly nextToken: string;
}

const TOKEN_PREFIX = "atrest-events-v1:";

/** The position and the query window of the first page (a default window stays that of the first page). */
export interface NextTokenState extends EventCursor {
  readonly startMs: number;
  readonly endMs: number;
}

export function encodeNextToken(c: NextTokenState, fingerprint: string): string {
  return Buffer.from(`${TOKEN_PREFIX}${JSON.stringify({ ...c, f: fingerprint })}`, "utf8").toString(
    "base64url",
  );
}

export function decodeNextToken(token: string, fingerprint: string): NextTokenState {
  const bad = () =>
    iamError("InvalidParameter.NextToken", "NextToken: not a token this server issued for these parameters");
  let text: string;
  try {
    text = Buffer.from(token, "base64url").toString("utf8");
  } catch {
    throw bad();
  }
  if (!text.startsWith(TOKEN_PREFIX)) throw bad();
  let v: unknown;
  try {
    v = JSON.parse(text.slice(TOKEN_PREFIX.length));
  } catch {
    throw bad();
  }
  const o = v as Partial<NextTokenState & { f: string }>;
  if (
    typeof o !== "object" ||
    o === null ||
    ![o.time, o.rank, o.seq, o.startMs, o.endMs].every((n) => Number.isSafeInteger(n)) ||
    o.f !== fingerprint
  )
    throw bad();
  return { time: o.time!, rank: o.rank!, seq: o.seq!, startMs: o.startMs!, endMs: o.endMs! };
}

/** Merges the sources' answers for one page. */
export async function lookupEvents(
  sources: readonly EventSource[],
  q: Omit<SourceQuery, "limit"> & { maxResults: number; fingerprint: string },
): Promise<LookupResult> {
  const per = await Promise.all(
    sources.map((s) =>
      s.lookup({ ...q, limit: q.maxResults + 1 }).then((rows) => rows.map((r) => ({ ...r, rank: s.rank }))),
    ),
  );
  const merged = per.flat().sort((a, b) => b.time - a.time || a.rank - b.rank || b.seq - a.seq);
  const page = merged.slice(0, q.maxResults);
  const last = page[page.length - 1];
  return {
    events: page.map((r) => r.event),
    nextToken:
      merged.length > q.maxResults && last !== undefined
        ? encodeNextToken(
            { time: last.time, rank: last.rank, seq: last.seq, startMs: q.startMs, endMs: q.endMs },
            q.fingerprint,
          )
        : "",
  };
}
