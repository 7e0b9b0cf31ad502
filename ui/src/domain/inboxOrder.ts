// The inbox order (docs/design.md, "The inbox order"), as the desktop cache computes it
// in Rust (crates/store/src/inbox/rank.rs): what can still be saved first, the lost ones apart.
// The dev mock backend ranks with this, and the list draws its "已超期" divider from
// the rows' groups.
import type { ClockReading, InboxGroup, InboxRow } from "../ipc";

export const GROUP_ORDER: readonly InboxGroup[] = ["savable", "live", "overdue", "done"];

/** A letter's place in the inbox at `nowMs`: its group and the key within the group. */
export type Rank = { group: InboxGroup; key: number };

/**
 * The rank of a letter from its clocks at `nowMs` (`receivedMs` orders the done ones,
 * newest first). Unmet clocks are the running and breached ones; a clock due exactly now
 * still runs.
 */
export function rankOf(clocks: (ClockReading | null)[], receivedMs: number, nowMs: number): Rank {
  const unmet = clocks.filter((c): c is ClockReading => c !== null && (c.state === "running" || c.state === "breached"));
  const due = (c: ClockReading) => Date.parse(c.due_at);
  const savable = unmet
    .filter((c) => (c.kind === "sign_for" || c.kind === "contact") && due(c) >= nowMs)
    .map(due)
    .sort((a, b) => a - b)[0];
  if (savable !== undefined) return { group: "savable", key: savable };
  const urgent = unmet.map(due).sort((a, b) => a - b)[0];
  if (urgent === undefined) return { group: "done", key: -receivedMs };
  // Longest overdue first is the smallest due time first, as for the running ones.
  return { group: nowMs > urgent ? "overdue" : "live", key: urgent };
}

/** Sorts by group, then key, then id (the cache's tie-break). */
export function compareRanks(a: Rank & { id: number }, b: Rank & { id: number }): number {
  const g = GROUP_ORDER.indexOf(a.group) - GROUP_ORDER.indexOf(b.group);
  if (g !== 0) return g;
  return a.key !== b.key ? a.key - b.key : a.id - b.id;
}

/** The row starts the "已超期" group: the one before it (if any) is not overdue. */
export function startsOverdueGroup(row: Pick<InboxRow, "group">, previous: Pick<InboxRow, "group"> | undefined): boolean {
  return row.group === "overdue" && previous?.group !== "overdue";
}
