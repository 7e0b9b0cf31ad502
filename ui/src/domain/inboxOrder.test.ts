import { describe, expect, it } from "vitest";
import type { ClockKind, ClockReading } from "../ipc";
import { compareRanks, rankOf, startsOverdueGroup } from "./inboxOrder";

const T0 = Date.parse("2026-03-02T01:00:00Z");
const MIN = 60_000;
const DAY = 86_400_000;

function clock(kind: ClockKind, dueMs: number, state: ClockReading["state"] = "running"): ClockReading {
  return {
    kind,
    started_at: new Date(T0 - DAY).toISOString(),
    due_at: new Date(dueMs).toISOString(),
    original_due_at: null,
    state,
    band: "ok",
    remaining_secs: 0,
    met_at: state === "met" ? new Date(T0).toISOString() : null,
  };
}

describe("the inbox order", () => {
  it("puts a sign-for clock with minutes left above 30 cases lost days ago", () => {
    const lost = Array.from({ length: 30 }, (_, i) => ({
      id: 100 + i,
      ...rankOf([clock("closure", T0 - (i + 1) * DAY)], T0 - 20 * DAY, T0),
    }));
    const signFor = { id: 1, ...rankOf([clock("sign_for", T0 + 5 * MIN), clock("closure", T0 + 15 * DAY)], T0, T0) };
    const sorted = [...lost, signFor].sort(compareRanks);
    expect(sorted[0]?.id).toBe(1);
    expect(sorted[0]?.group).toBe("savable");
    // The lost ones: longest overdue first.
    expect(sorted.slice(1).map((r) => r.id)).toEqual(lost.map((r) => r.id).reverse());
  });

  it("ranks savable sign-for and contact clocks by time left, then other running clocks, then lost, then done", () => {
    const rows = [
      { id: 5, ...rankOf([clock("closure", T0 - DAY)], T0 - 20 * DAY, T0) },
      { id: 4, ...rankOf([clock("closure", T0 + 3 * DAY)], T0 - 2 * DAY, T0) },
      { id: 3, ...rankOf([clock("first_feedback", T0 + 2 * MIN)], T0 - DAY, T0) },
      { id: 2, ...rankOf([clock("contact", T0 + 20 * MIN)], T0 - 10 * MIN, T0) },
      { id: 1, ...rankOf([clock("sign_for", T0 + 8 * MIN)], T0, T0) },
      { id: 6, ...rankOf([clock("closure", T0, "met")], T0 - 3 * DAY, T0) },
      { id: 7, ...rankOf([clock("closure", T0, "met")], T0 - DAY, T0) },
    ];
    const sorted = [...rows].sort(compareRanks);
    // A first feedback due in 2 minutes still ranks after the savable sign-for and contact.
    expect(sorted.map((r) => r.id)).toEqual([1, 2, 3, 4, 5, 7, 6]);
    expect(sorted.map((r) => r.group)).toEqual(["savable", "savable", "live", "live", "overdue", "done", "done"]);
  });

  it("ranks a letter whose sign-for is lost by its contact clock while that can be saved", () => {
    const clocks = [clock("sign_for", T0 - 2 * MIN, "breached"), clock("contact", T0 + 15 * MIN)];
    expect(rankOf(clocks, T0 - 15 * MIN, T0)).toEqual({ group: "savable", key: T0 + 15 * MIN });
    expect(rankOf(clocks, T0 - 15 * MIN, T0 + 15 * MIN + 1).group).toBe("overdue");
  });

  it("keeps a clock due exactly now running; it is lost one moment later", () => {
    expect(rankOf([clock("sign_for", T0)], T0, T0).group).toBe("savable");
    expect(rankOf([clock("sign_for", T0)], T0, T0 + 1).group).toBe("overdue");
    expect(rankOf([clock("closure", T0)], T0, T0).group).toBe("live");
  });

  it("marks where the 已超期 group starts", () => {
    expect(startsOverdueGroup({ group: "overdue" }, { group: "live" })).toBe(true);
    expect(startsOverdueGroup({ group: "overdue" }, undefined)).toBe(true);
    expect(startsOverdueGroup({ group: "overdue" }, { group: "overdue" })).toBe(false);
    expect(startsOverdueGroup({ group: "live" }, { group: "savable" })).toBe(false);
  });
});
