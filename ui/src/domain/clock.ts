// Deadline colours and countdowns as rows and the detail pane show them.
import type { Band, ClockKind, InboxRow } from "../ipc";
import { secondsUntil } from "./time";

/** What a band looks like: colour always with an icon shape and a label (never colour alone). */
export type BandLook = {
  band: Band;
  /** Text colour (WCAG AA on `background`). */
  color: string;
  background: string;
  border: string;
  /** The icon's shape, distinct per band for colour-blind readers. */
  icon: "circle" | "triangle" | "octagon" | "check";
  labelKey: `bands.${Band}`;
};

export const BAND_LOOKS: Record<Band, BandLook> = {
  ok: {
    band: "ok",
    color: "#11643a",
    background: "#e6f4ea",
    border: "#7cc39a",
    icon: "circle",
    labelKey: "bands.ok",
  },
  warning: {
    band: "warning",
    color: "#7a4a00",
    background: "#fff3d6",
    border: "#e9b44c",
    icon: "triangle",
    labelKey: "bands.warning",
  },
  overdue: {
    band: "overdue",
    color: "#a4161a",
    background: "#fde8e8",
    border: "#e58a8a",
    icon: "octagon",
    labelKey: "bands.overdue",
  },
  done: {
    band: "done",
    color: "#4b5563",
    background: "#eef0f3",
    border: "#c4c9d1",
    icon: "check",
    labelKey: "bands.done",
  },
};

export function bandLook(band: Band): BandLook {
  return BAND_LOOKS[band];
}

/**
 * Shenzhen's default warn windows (DOMAIN.md). Between two inbox queries a row can only
 * become more urgent: it turns red at its due time exactly, and amber when it enters
 * these windows; the next query (at most 30 s later) brings the policy's own colour.
 */
export const DEFAULT_WARN_SECS: Record<ClockKind, number> = {
  sign_for: 3 * 60,
  contact: 10 * 60,
  first_feedback: 24 * 3600,
  closure: 48 * 3600,
};

/** A row's band and seconds left at `nowMs` (server time). */
export function liveReading(
  row: Pick<InboxRow, "band" | "due_at" | "urgent_clock" | "remaining_secs">,
  nowMs: number,
): { band: Band; remaining: number | null } {
  if (!row.due_at || row.band === "done") return { band: row.band, remaining: row.remaining_secs };
  const remaining = secondsUntil(row.due_at, nowMs);
  // Overdue only strictly after the due time ("within 10 minutes" includes the tenth).
  if (Date.parse(row.due_at) < nowMs) return { band: "overdue", remaining: Math.min(remaining, -1) };
  if (row.band === "ok" && row.urgent_clock && remaining <= DEFAULT_WARN_SECS[row.urgent_clock]) {
    return { band: "warning", remaining };
  }
  return { band: row.band, remaining };
}
