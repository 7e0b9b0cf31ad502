import { describe, expect, it } from "vitest";
import { createAppI18n } from "../i18n";
import { errorText, lockMinutes } from "./errors";

const t = createAppI18n().global.t as unknown as Parameters<typeof errorText>[0];

describe("error codes → messages", () => {
  it("translates the login failures", () => {
    expect(errorText(t, { code: "invalid_credentials", message: "401 Unauthorized" })).toBe("用户名或密码不正确。");
    expect(errorText(t, { code: "unreachable", message: "tcp connect error" })).toContain("无法连接服务器");
    expect(errorText(t, { code: "invalid_url", message: "relative URL" })).toContain("服务器地址格式不正确");
  });

  it("says how long a lock-out lasts, from retryAfterSecs or the message", () => {
    expect(errorText(t, { code: "account_locked", message: "locked", retryAfterSecs: 840 })).toContain("14 分钟");
    expect(errorText(t, { code: "account_locked", message: "retry after 61 seconds" })).toContain("2 分钟");
    expect(errorText(t, { code: "account_locked", message: "locked" })).toBe("账号因多次输错密码已被锁定，请稍后再试。");
    expect(lockMinutes("30")).toBe(1);
  });

  it("never shows a raw message; an unknown code is named, not explained", () => {
    expect(errorText(t, { code: "internal", message: "database is locked" })).not.toContain("database");
    expect(errorText(t, { code: "brand_new", message: "boom" })).toBe("操作被拒绝（代码 brand_new）。");
    expect(errorText(t, "plain string")).toContain("操作未能完成");
  });
});
