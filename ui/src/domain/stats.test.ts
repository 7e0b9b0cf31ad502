import { describe, expect, it } from "vitest";
import type { Unit } from "../ipc";
import { averageHeld, heldChartUnit, previousPeriod, rateChange, responsibleUnits } from "./stats";

const UNITS: Unit[] = [
  { id: 1, parent: null, tier: "city", name: "市局", active: true },
  { id: 2, parent: 1, tier: "branch", name: "福田分局", active: true },
  { id: 3, parent: 2, tier: "station", name: "福田派出所", active: true },
  { id: 4, parent: 1, tier: "branch", name: "南山分局", active: true },
  { id: 5, parent: 4, tier: "station", name: "南头派出所", active: true },
];

describe("statistics at a glance", () => {
  it("a branch answers for itself and its stations, not a sibling branch", () => {
    expect([...responsibleUnits(UNITS, 2)].sort()).toEqual([2, 3]);
    expect([...responsibleUnits(UNITS, 1)].sort()).toEqual([1, 2, 3, 4, 5]);
    expect([...responsibleUnits(UNITS, 5)]).toEqual([5]);
  });

  it("the previous period has the same length and ends where this one starts", () => {
    expect(previousPeriod(1000, 1700)).toEqual([300, 1000]);
  });

  it("rates change in percentage points, none when a period has nothing to rate", () => {
    expect(rateChange(9, 10, 8, 10)).toBe(10);
    expect(rateChange(1, 3, 1, 2)).toBe(-16.7);
    expect(rateChange(1, 0, 1, 2)).toBeNull();
    expect(rateChange(1, 2, 0, 0)).toBeNull();
  });

  it("time held reads in hours, or days from two days on, per letter", () => {
    expect(averageHeld(0, 0)).toBeNull();
    expect(averageHeld(3 * 3600 * 10, 10)).toEqual({ value: 3, unit: "hours" });
    expect(averageHeld(47.5 * 3600, 1)).toEqual({ value: 47.5, unit: "hours" });
    // 21,000 hours over 350 letters: 2.5 days each.
    expect(averageHeld(21_000 * 3600, 350)).toEqual({ value: 2.5, unit: "days" });
    expect(heldChartUnit([{ held_secs: 3600, letters_held: 1 }, { held_secs: 72 * 3600, letters_held: 1 }])).toBe("days");
    expect(heldChartUnit([{ held_secs: 3600, letters_held: 1 }])).toBe("hours");
  });
});
