import { describe, expect, it } from "vitest";
import { createI18n } from "vue-i18n";
import { formatCountdown } from "./countdown";
import en from "./en";
import zhCN from "./zh-CN";

function translator(locale: "zh-CN" | "en") {
  const i18n = createI18n({ legacy: false, locale, messages: { "zh-CN": zhCN, en } });
  return (key: string, named: Record<string, unknown>) => i18n.global.t(key, named);
}

const M = 60;
const H = 3600;
const D = 86400;

describe("the one countdown format", () => {
  const zh = translator("zh-CN");
  const english = translator("en");

  it.each([
    // under an hour: minutes and seconds
    [8 * M + 30, "剩 8分30秒", "8 min 30 s left"],
    [9, "剩 0分9秒", "0 min 9 s left"],
    [0, "剩 0分0秒", "0 min 0 s left"],
    [H - 1, "剩 59分59秒", "59 min 59 s left"],
    // under a day: hours and minutes (truncated, never rounded up)
    [H, "剩 1小时0分", "1 h 0 min left"],
    [3 * H + 4 * M + 59, "剩 3小时4分", "3 h 4 min left"],
    [D - 1, "剩 23小时59分", "23 h 59 min left"],
    // a day or more: days and hours
    [D, "剩 1天0小时", "1 d 0 h left"],
    [D + 11 * H + 59 * M, "剩 1天11小时", "1 d 11 h left"],
    [15 * D, "剩 15天0小时", "15 d 0 h left"],
    // overdue: the same ranges on the time past
    [-1, "超期 0分1秒", "overdue 0 min 1 s"],
    [-(2 * M + 13), "超期 2分13秒", "overdue 2 min 13 s"],
    [-(H + 5 * M), "超期 1小时5分", "overdue 1 h 5 min"],
    [-(5 * D + 9 * H + 30 * M), "超期 5天9小时", "overdue 5 d 9 h"],
  ])("%i s → %s / %s", (secs, chinese, inEnglish) => {
    expect(formatCountdown(zh, secs)).toBe(chinese);
    expect(formatCountdown(english, secs)).toBe(inEnglish);
  });

  it("never reads as a time of day", () => {
    for (const secs of [-3 * D, -H, -59, 0, 59, 599, H, 3 * H + 4 * M + 5, 2 * D + 4 * H]) {
      expect(formatCountdown(zh, secs)).not.toMatch(/\d:\d/);
      expect(formatCountdown(english, secs)).not.toMatch(/\d:\d/);
    }
  });
});
