import { describe, expect, it } from "vitest";
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

const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

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

  it("no message uses vue-i18n's special characters by accident (@ and | would be parsed)", () => {
    for (const [key, value] of [...zh, ...e]) expect(/[@|]/.test(value), key).toBe(false);
  });

  it("every action, state, clock and error code the Rust side knows has a message", () => {
    const actions = ["dispatch", "sign_for", "record_contact", "give_first_feedback", "return_letter", "rule_return", "request_extension", "decide_extension", "assign_supervisor", "chase", "submit_feedback_form", "approve_feedback_form", "record_return_visit", "link_thanks", "reclassify"];
    for (const a of actions) expect(zh.has(`actions.${a}`), a).toBe(true);
    const codes = ["invalid_credentials", "account_locked", "unreachable", "invalid_url", "offline", "not_found", "wrong_state", "invalid_input", "session_expired"];
    for (const c of codes) expect(zh.has(`errors.${c}`), c).toBe(true);
  });
});
