import { describe, expect, it } from "vitest";
import { createI18n } from "vue-i18n";
import type { WriterNotice } from "../ipc";
import en from "../i18n/en";
import zhCN from "../i18n/zh-CN";
import { describeNotice } from "./notices";

function translator(locale: "zh-CN" | "en") {
  const i18n = createI18n({ legacy: false, locale, messages: { "zh-CN": zhCN, en } });
  return i18n.global.t as unknown as Parameters<typeof describeNotice>[0];
}

const base: WriterNotice = {
  id: 1,
  step: "receipt",
  trigger_seq: 1,
  route: "sms",
  state: "pending",
  attempts: 0,
  text: "您的留言已受理",
  created_at: "2026-12-08T02:00:00Z",
  updated_at: "2026-12-08T02:00:00Z",
  last_error: null,
};

describe("a notice to the writer in the history", () => {
  const zh = translator("zh-CN");
  const english = translator("en");

  it.each([
    [{}, "告知来信人：已受理（短信）", "等待发送", false],
    [{ state: "sent", attempts: 1 }, "告知来信人：已受理（短信）", "已发送", false],
    [{ attempts: 2, last_error: "errcode 45015" }, "告知来信人：已受理（短信）", "发送未成功，已尝试 2 次（errcode 45015），稍后重试", false],
    [{ state: "failed", attempts: 6, last_error: "isv.MOBILE_NUMBER_ILLEGAL" }, "告知来信人：已受理（短信）", "发送失败（isv.MOBILE_NUMBER_ILLEGAL）：请电话告知来信人", true],
    [{ step: "closed", route: "wechat", state: "sent" }, "告知来信人：已办结（微信）", "已发送", false],
  ] as const)("%o", (change, text, status, failed) => {
    const line = describeNotice(zh, { ...base, ...change } as WriterNotice);
    expect(line).toEqual({ text, status, failed });
  });

  it("has words for every step, route and state in both languages", () => {
    for (const step of ["receipt", "unreachable", "first_feedback", "extended", "closed", "return_visit"] as const) {
      for (const route of ["sms", "wechat"] as const) {
        for (const t of [zh, english]) {
          const line = describeNotice(t, { ...base, step, route });
          expect(line.text).not.toContain("writerNotices.");
          expect(line.status).not.toContain("writerNotices.");
        }
      }
    }
    expect(describeNotice(english, { ...base, state: "failed", last_error: "x" }).status).toBe(
      "Not delivered (x): tell the writer by phone",
    );
  });
});
