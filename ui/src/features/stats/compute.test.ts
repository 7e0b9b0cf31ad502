import { describe, expect, it } from "vitest";
import { createMockBackend } from "../../dev/mockBackend";
import type { LetterDetail, LetterView } from "../../ipc";
import { handoverItems } from "../handover/compute";
import { computeReport } from "./compute";

function details(n = 80): { list: LetterDetail[]; now: number } {
  const backend = createMockBackend({ letters: n, nowMs: Date.parse("2026-11-28T04:00:00Z") });
  const list = [...backend.letters.keys()].map((id) => (backend.handle("letter_detail", { id }) as LetterView).detail);
  return { list, now: backend.now() };
}

describe("statistics computed from cached letters", () => {
  it("counts 三率 by their definitions and marks the report as estimated", () => {
    const { list, now } = details();
    const report = computeReport(list, "2026-10-01T00:00:00Z", "2026-12-01T00:00:00Z", now);
    expect(report.computed_in_ui).toBe(true);
    expect(report.letters).toBe(list.length);
    const sum = (k: "dispatched" | "signed_on_time" | "due" | "closed_on_time" | "visits" | "satisfied") =>
      report.units.reduce((s, u) => s + u[k], 0);
    expect(sum("dispatched")).toBe(list.filter((d) => d.record.events.some((e) => e.payload.kind === "dispatched")).length);
    expect(sum("signed_on_time")).toBeLessThanOrEqual(sum("dispatched"));
    expect(sum("closed_on_time")).toBeLessThanOrEqual(sum("due"));
    expect(sum("satisfied")).toBeLessThanOrEqual(sum("visits"));
    expect(report.by_category.reduce((s, c) => s + c.count, 0)).toBe(list.length);
    expect(report.tiers.map((t) => t.tier)).toEqual(["city", "branch", "station"]);
  });

  it("an empty period is empty", () => {
    const { list, now } = details(20);
    const report = computeReport(list, "2020-01-01T00:00:00Z", "2020-02-01T00:00:00Z", now);
    expect(report.letters).toBe(0);
    expect(report.units).toEqual([]);
  });
});

describe("shift handover", () => {
  it("lists signed-for letters not contacted, clocks about to breach and call-backs", () => {
    const { list, now } = details(60);
    const items = handoverItems(list, now);
    for (const item of items.filter((i) => i.kind === "not_contacted")) {
      const d = list.find((l) => l.record.id === item.letter_id)!;
      expect(d.status.state).toBe("handling");
      expect(d.clocks.contact.met_at).toBeNull();
    }
    for (const item of items.filter((i) => i.kind === "about_to_breach")) {
      expect(Date.parse(item.due_at!) - now).toBeLessThanOrEqual(2 * 3600 * 1000);
    }
    // The mock's fresh handling letter (25 min old) has not been contacted yet or has.
    expect(items.every((i) => i.tracking_code.startsWith("SZ"))).toBe(true);
  });
});
