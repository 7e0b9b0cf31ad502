// How the statistics screen reads for a chief at a glance: only the units they answer
// for, each rate against the previous period of the same length, and time in hours or
// days (a sum of 21,000 hours means nothing; "a letter stays 2.5 days" does).
import type { Unit, UnitId } from "../ipc";
import { unitsBelow } from "./letters";

/** The user's unit and every unit below it: the units a statistics table lists. */
export function responsibleUnits(units: Unit[], mine: UnitId): Set<UnitId> {
  return new Set([mine, ...unitsBelow(units, mine).map((u) => u.id)]);
}

/** The period of the same length just before `[from, to)` (ms). */
export function previousPeriod(from: number, to: number): [number, number] {
  return [from - (to - from), from];
}

/** A rate's change against the previous period, in percentage points (one decimal);
 * `null` when either period has nothing to rate. */
export function rateChange(num: number, den: number, prevNum: number, prevDen: number): number | null {
  if (den <= 0 || prevDen <= 0) return null;
  return Math.round(((num / den - prevNum / prevDen) * 100) * 10) / 10;
}

/** The average time a letter stayed at a tier: hours below two days, days from then. */
export function averageHeld(heldSecs: number, letters: number): { value: number; unit: "hours" | "days" } | null {
  if (letters <= 0) return null;
  const hours = heldSecs / letters / 3600;
  return hours < 48 ? { value: Math.round(hours * 10) / 10, unit: "hours" } : { value: Math.round((hours / 24) * 10) / 10, unit: "days" };
}

/** The unit the whole chart uses: days as soon as one tier's average reaches two days. */
export function heldChartUnit(rows: { held_secs: number; letters_held: number }[]): "hours" | "days" {
  return rows.some((r) => averageHeld(r.held_secs, r.letters_held)?.unit === "days") ? "days" : "hours";
}
