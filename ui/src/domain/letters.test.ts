import { describe, expect, it } from "vitest";
import type { Unit } from "../ipc";
import { dispatchTargets, filtersToQuery, isWriterPhone, problemClassOptions, rate, toCsv, unitsBelow, type InboxFilters } from "./letters";

const none: InboxFilters = { state: null, bands: [], categories: [], channels: [], handler: null, text: "" };

describe("filters → InboxQuery", () => {
  it("filters nothing by default", () => {
    expect(filtersToQuery(none)).toMatchObject({ states: [], bands: [], categories: [], channels: [], handler: null, text: null, offset: 0 });
  });

  it("maps each filter, trims and collapses the search, keeps a queue's fixed parts", () => {
    const q = filtersToQuery(
      { state: "dispatched", bands: ["overdue"], categories: ["complaint"], channels: ["wechat"], handler: 20, text: "  噪音   扰民 " },
      { unit: 5 },
    );
    expect(q).toMatchObject({ states: ["dispatched"], bands: ["overdue"], categories: ["complaint"], channels: ["wechat"], handler: 20, unit: 5, text: "噪音 扰民" });
  });

  it("a queue's fixed state stays when no state tab is chosen", () => {
    expect(filtersToQuery(none, { states: ["received"] }).states).toEqual(["received"]);
  });

  it("a worklist's own filters stay when the user sets none (the supervisor's 已超期, 我的盯办)", () => {
    expect(filtersToQuery(none, { bands: ["overdue"] }).bands).toEqual(["overdue"]);
    expect(filtersToQuery({ ...none, bands: ["warning"] }, { bands: ["overdue"] }).bands).toEqual(["warning"]);
    const mine = filtersToQuery(none, { supervisor: 12, extended: true, visit_due: true, extension_pending: true });
    expect(mine).toMatchObject({ supervisor: 12, extended: true, visit_due: true, extension_pending: true });
  });

  it("a blank search is no search", () => {
    expect(filtersToQuery({ ...none, text: "   " }).text).toBeNull();
  });
});

describe("units below", () => {
  const units: Unit[] = [
    { id: 1, parent: null, tier: "city", name: "市局", active: true },
    { id: 2, parent: 1, tier: "branch", name: "福田分局", active: true },
    { id: 3, parent: 1, tier: "branch", name: "南山分局", active: true },
    { id: 5, parent: 2, tier: "station", name: "福田派出所", active: true },
    { id: 9, parent: 3, tier: "station", name: "南山派出所", active: true },
  ];
  it("lists the subtree only, never a sibling's", () => {
    expect(unitsBelow(units, 2).map((u) => u.id)).toEqual([5]);
    expect(unitsBelow(units, 1).map((u) => u.id).sort()).toEqual([2, 3, 5, 9]);
    expect(unitsBelow(units, 5)).toEqual([]);
  });
  it("offers no deactivated unit as a dispatch target", () => {
    const closed = units.map((u) => (u.id === 9 ? { ...u, active: false } : u));
    const me = { unit_id: 1, units: closed } as Parameters<typeof dispatchTargets>[0];
    expect(dispatchTargets(me).map((u) => u.id).sort()).toEqual([2, 3, 5]);
  });
});

describe("CSV and rates", () => {
  it("quotes, starts with a BOM and defuses spreadsheet formulas", () => {
    const csv = toCsv([["单位", "a,b", '"q"', "=1+1"], [1, 2]]);
    expect(csv.startsWith("\ufeff")).toBe(true);
    expect(csv).toContain('单位,"a,b","""q""",\'=1+1\r\n1,2\r\n');
  });
  it("formats rates, with a dash when nothing is due", () => {
    expect(rate(7, 8)).toBe("87.5%");
    expect(rate(0, 0)).toBe("—");
  });
});

describe("a writer's phone, as the server takes it", () => {
  it("takes mobiles and landlines the server takes, and refuses what it refuses", () => {
    for (const ok of ["13812345678", "138 1234 5678", "0755-83312345", "010-1234567", "83312345", "1234567", "075583312345"])
      expect(isWriterPhone(ok), ok).toBe(true);
    for (const bad of ["", "12812345678", "1381234567", "755-83312345", "0755-123456", "123456", "0755--8331234", "abc"])
      expect(isWriterPhone(bad), bad).toBe(false);
  });
});

describe("problemClassOptions", () => {
  it("offers the served classes and any the letter carries, and stops at five", () => {
    const served = ["噪音扰民", "违章停车", "治安隐患", "邻里纠纷", "电信网络诈骗", "办事效率"];
    const opts = problemClassOptions(served, ["旧分类"], ["旧分类"]);
    expect(opts.map((o) => o.value)).toEqual([...served, "旧分类"]);
    expect(opts.every((o) => !o.disabled)).toBe(true);
    const full = problemClassOptions(served, served.slice(0, 5));
    expect(full.filter((o) => o.disabled).map((o) => o.value)).toEqual(["办事效率"]);
  });
});
