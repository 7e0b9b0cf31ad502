import { describe, expect, it } from "vitest";
import type { HandoverAckView, HandoverItem, HandoverItemKind, UserSummary } from "../../ipc";
import en from "../../i18n/en";
import zhCN from "../../i18n/zh-CN";
import { HANDOVER_KINDS, handoverPair, handoverSections, outgoingCandidates, tickCount } from "./handover";

const item = (kind: HandoverItemKind, letter_id: number): HandoverItem => ({
  kind,
  letter_id,
  tracking_code: `SZ${letter_id}`,
  subject: `来信 ${letter_id}`,
  clock: null,
  due_at: null,
  event_at: null,
  note: "",
});

const people: UserSummary[] = [
  { id: 20, display_name: "刘瑞峰", unit_id: 5, roles: ["officer"] },
  { id: 21, display_name: "黄思远", unit_id: 5, roles: ["officer"] },
  { id: 22, display_name: "林志斌", unit_id: 5, roles: ["chief"] },
  { id: 30, display_name: "马军", unit_id: 6, roles: ["officer"] },
];

describe("the handover screen", () => {
  it("shows every list, in order, overdue apart from about to breach, empty ones too", () => {
    const sections = handoverSections([item("promised_callback", 2), item("overdue", 2), item("about_to_breach", 3), item("not_signed_for", 4)]);
    expect(sections.map((s) => s.kind)).toEqual(["not_signed_for", "not_contacted", "chased", "overdue", "about_to_breach", "promised_callback"]);
    expect(sections.map((s) => s.items.map((i) => i.letter_id))).toEqual([[4], [], [], [2], [3], [2]]);
  });

  it("titles every list in both languages, Chinese as written in the issue", () => {
    const titles = (tree: Record<string, Record<string, string>>) =>
      handoverSections([]).map((s) => {
        const [group, key] = s.titleKey.split(".") as [string, string];
        return tree[group]?.[key];
      });
    expect(titles(zhCN as never)).toEqual(["待签收", "已签收未联系来信人", "被催办未处理", "已超期", "即将超期", "约定回拨"]);
    expect(titles(en as never).every((t) => typeof t === "string" && t.length > 0)).toBe(true);
    expect(HANDOVER_KINDS).toHaveLength(6);
  });

  it("counts a letter on several lists as one tick, and ignores ticks of letters no longer listed", () => {
    const items = [item("not_contacted", 2), item("overdue", 2), item("promised_callback", 2), item("overdue", 5)];
    expect(tickCount(items, new Set())).toEqual({ ticked: 0, listed: 2 });
    expect(tickCount(items, new Set([2, 9]))).toEqual({ ticked: 1, listed: 2 });
    expect(tickCount(items, new Set([2, 5]))).toEqual({ ticked: 2, listed: 2 });
  });

  it("offers my unit's colleagues as the outgoing officer, not me", () => {
    const offered = outgoingCandidates(people, { user_id: 20, unit_id: 5 }).map((p) => p.id);
    expect(offered.sort()).toEqual([21, 22]);
  });

  it("names 交班人 → 接班人 by the recorded name, the directory's, or a dash", () => {
    const ack: HandoverAckView = {
      user_id: 20,
      user_name: "刘瑞峰",
      handed_over_by: 21,
      handed_over_by_name: "黄思远",
      listed: 3,
      checked: 2,
      shift: "白班",
      acknowledged_at: "2026-11-28T04:00:00Z",
      note: "",
      status: "recorded",
      last_error: null,
    };
    expect(handoverPair(ack, [])).toEqual({ from: "黄思远", to: "刘瑞峰" });
    expect(handoverPair({ ...ack, handed_over_by_name: null }, people)).toEqual({ from: "黄思远", to: "刘瑞峰" });
    expect(handoverPair({ ...ack, handed_over_by: null, handed_over_by_name: null }, people)).toEqual({ from: "—", to: "刘瑞峰" });
  });
});
