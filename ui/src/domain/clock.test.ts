import { describe, expect, it } from "vitest";
import zhCN from "../i18n/zh-CN";
import en from "../i18n/en";
import type { Band, InboxRow } from "../ipc";
import { BAND_LOOKS, bandLook, liveReading } from "./clock";

const BANDS: Band[] = ["ok", "warning", "overdue", "done"];

describe("band → colour, icon and label", () => {
  it("pairs every colour with a distinct icon shape and a translated label", () => {
    const shapes = new Set(BANDS.map((b) => bandLook(b).icon));
    expect(shapes.size).toBe(4);
    expect(BANDS.map((b) => zhCN.bands[b])).toEqual(["正常", "临期", "超期", "已完成"]);
    for (const b of BANDS) {
      expect(bandLook(b).labelKey).toBe(`bands.${b}`);
      expect(en.bands[b]).toBeTruthy();
    }
  });

  it("green, amber, red, grey", () => {
    expect(BAND_LOOKS.ok.border).toMatch(/^#[0-9a-f]{6}$/);
    const hue = (hex: string) => {
      const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
      return { r, g, b };
    };
    const ok = hue(BAND_LOOKS.ok.border);
    expect(ok.g).toBeGreaterThan(ok.r);
    const overdue = hue(BAND_LOOKS.overdue.border);
    expect(overdue.r).toBeGreaterThan(overdue.g);
    const warning = hue(BAND_LOOKS.warning.border);
    expect(warning.r).toBeGreaterThan(warning.b);
    const done = hue(BAND_LOOKS.done.border);
    expect(Math.abs(done.r - done.b)).toBeLessThan(20);
  });
});

describe("a row's live reading", () => {
  const due = "2026-11-28T00:10:00Z";
  const row = (band: Band, clock: InboxRow["urgent_clock"] = "sign_for"): Pick<InboxRow, "band" | "due_at" | "urgent_clock" | "remaining_secs"> => ({
    band,
    due_at: due,
    urgent_clock: clock,
    remaining_secs: 600,
  });
  const at = (iso: string) => Date.parse(iso);

  it("counts down from the server time", () => {
    expect(liveReading(row("ok"), at("2026-11-28T00:00:00Z"))).toEqual({ band: "ok", remaining: 600 });
  });

  it("turns amber inside the warn window (3 min for sign-for)", () => {
    expect(liveReading(row("ok"), at("2026-11-28T00:07:00Z"))).toEqual({ band: "warning", remaining: 180 });
  });

  it("is still on time at the due second, red strictly after, with a negative countdown", () => {
    expect(liveReading(row("warning"), at(due)).band).toBe("warning");
    expect(liveReading(row("warning"), at("2026-11-28T00:10:00.500Z"))).toEqual({ band: "overdue", remaining: -1 });
    expect(liveReading(row("warning"), at("2026-11-28T00:12:13Z"))).toEqual({ band: "overdue", remaining: -133 });
  });

  it("leaves a done row alone", () => {
    expect(liveReading({ band: "done", due_at: null, urgent_clock: null, remaining_secs: null }, 0)).toEqual({ band: "done", remaining: null });
  });
});
