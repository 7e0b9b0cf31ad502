import { describe, expect, it } from "vitest";
import { cstLocalToIso, formatCst, isoToCstLocal, secondsUntil } from "./time";

describe("China Standard Time", () => {
  it("shows UTC instants at UTC+8 whatever the workstation's zone", () => {
    expect(formatCst("2026-11-27T16:05:09Z")).toBe("2026-11-28 00:05");
    expect(formatCst("2026-11-27T16:05:09Z", true)).toBe("2026-11-28 00:05:09");
    expect(formatCst(null)).toBe("");
    expect(formatCst("garbage")).toBe("");
  });

  it("round-trips the datetime-local value of the forms", () => {
    expect(isoToCstLocal("2026-11-27T16:05:00Z")).toBe("2026-11-28T00:05");
    expect(cstLocalToIso("2026-11-28T00:05")).toBe("2026-11-27T16:05:00.000Z");
    expect(cstLocalToIso("")).toBeNull();
  });

  it("counts seconds to a due time, negative when past", () => {
    const now = Date.parse("2026-11-28T00:00:00Z");
    expect(secondsUntil("2026-11-28T00:10:00Z", now)).toBe(600);
    expect(secondsUntil("2026-11-27T23:57:47Z", now)).toBe(-133);
    expect(secondsUntil("2026-11-27T23:59:59.500Z", now)).toBe(-1);
  });
});
