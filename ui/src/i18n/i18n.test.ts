import { describe, expect, it } from "vitest";
import { createI18n } from "vue-i18n";
import { FORM_TITLE_ZH } from "../ipc/bindings/limits";
import en from "./en";
import zhCN from "./zh-CN";

type Tree = { [key: string]: string | Tree };

function leaves(tree: Tree, prefix = ""): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(tree)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (typeof v === "string") out.set(key, v);
    else for (const [kk, vv] of leaves(v, key)) out.set(kk, vv);
  }
  return out;
}

// A plural message ("{n} letter | {n} letters") names a placeholder once per form.
const placeholders = (s: string) => [...new Set([...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]))].sort();

describe("translations", () => {
  const zh = leaves(zhCN as unknown as Tree);
  const e = leaves(en as unknown as Tree);

  it("English has exactly the keys of the Chinese reference, none empty", () => {
    expect([...e.keys()].sort()).toEqual([...zh.keys()].sort());
    for (const [key, value] of e) expect(value.trim(), key).not.toBe("");
  });

  it("each translation uses the same placeholders as the reference", () => {
    for (const [key, value] of zh) expect(placeholders(e.get(key) ?? ""), key).toEqual(placeholders(value));
  });

  // English counts have a singular and a plural form ("1 letter | 2 letters"); the
  // screens pass the count for exactly these keys.
  const PLURALS = new Set(["inbox.total", "inbox.newArrivals", "stats.letters", "arrivalAlerts.banner", "admin.users.signedOut"]);

  it("no message uses vue-i18n's special characters by accident (@ and | would be parsed)", () => {
    for (const [key, value] of [...zh, ...e]) {
      expect(/@/.test(value), key).toBe(false);
      if (PLURALS.has(key) && e.get(key) === value) expect(value.split(" | ").length, key).toBe(2);
      else expect(/\|/.test(value), key).toBe(false);
    }
  });

  it("every action, state, clock and error code the Rust side knows has a message", () => {
    const actions = ["dispatch", "sign_for", "record_contact", "give_first_feedback", "return_letter", "rule_return", "request_extension", "decide_extension", "assign_supervisor", "chase", "submit_feedback_form", "approve_feedback_form", "record_return_visit", "link_thanks", "reclassify"];
    for (const a of actions) expect(zh.has(`actions.${a}`), a).toBe(true);
    const codes = ["invalid_credentials", "account_locked", "unreachable", "invalid_url", "offline", "not_found", "wrong_state", "invalid_input", "session_expired"];
    for (const c of codes) expect(zh.has(`errors.${c}`), c).toBe(true);
  });
});

describe("counts read right", () => {
  const i18n = createI18n({ legacy: false, locale: "en", messages: { "zh-CN": zhCN, en } });
  const t = i18n.global.t;

  it.each([
    ["inbox.newArrivals", 1, "1 new letter", "新到来信 1 封"],
    ["inbox.newArrivals", 2, "2 new letters", "新到来信 2 封"],
    ["inbox.total", 1, "1 letter", "共 1 封"],
    ["arrivalAlerts.banner", 3, "3 new letters to sign for or dispatch", null],
  ])("%s with %i", (key, n, english, chinese) => {
    i18n.global.locale.value = "en";
    expect(t(key, { n }, n)).toBe(english);
    if (chinese) {
      i18n.global.locale.value = "zh-CN";
      expect(t(key, { n }, n)).toBe(chinese);
    }
  });

  it("an action's confirmation does not repeat its verb", () => {
    i18n.global.locale.value = "zh-CN";
    expect(t("actionForm.done", { action: t("actions.submit_feedback_form") })).toBe("「提交反馈表」已完成");
  });
});

describe("the feedback form", () => {
  it("is titled on screen as the PDF prints it (jsjb_core::form::FORM_TITLE)", () => {
    expect(zhCN.signoff.formTitle).toBe(FORM_TITLE_ZH);
  });
});
