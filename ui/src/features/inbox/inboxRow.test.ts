// One inbox row: the 催办 badge while the case is open, and the unit holding the letter
// when it is not the user's own.
import { mount } from "@vue/test-utils";
import { describe, expect, it } from "vitest";
import { createAppI18n } from "../../i18n";
import type { InboxRow } from "../../ipc";
import InboxRowView from "./InboxRowView.vue";

const row = (over: Partial<InboxRow> = {}): InboxRow => ({
  id: 7,
  tracking_code: "SZ0000000007",
  channel: "web",
  category: "complaint",
  subject: "夜市油烟扰民",
  writer_name: "张**",
  received_at: "2026-11-28T01:00:00Z",
  state: "handling",
  unit_id: 5,
  handler_id: 20,
  version: 4,
  pending: false,
  seen: true,
  band: "ok",
  urgent_clock: "first_feedback",
  due_at: "2026-12-02T01:00:00Z",
  remaining_secs: 3600,
  group: "live",
  chased_at: null,
  ...over,
});

function render(r: InboxRow, holderName: string | null = null) {
  return mount(InboxRowView, {
    props: { row: r, nowMs: Date.parse("2026-11-28T04:00:00Z"), selected: false, handlerName: "刘瑞峰", holderName, canSignFor: false, signing: false },
    global: { plugins: [createAppI18n()] },
  });
}

describe("an inbox row", () => {
  it("shows 催办 with its time while the case is open, not after it closed", () => {
    const chased = render(row({ chased_at: "2026-11-28T03:00:00Z" }));
    const mark = chased.get('[data-testid="chased-mark"]');
    expect(mark.text()).toBe("催办");
    expect(mark.attributes("title")).toContain("催办");
    expect(render(row()).find('[data-testid="chased-mark"]').exists()).toBe(false);
    expect(render(row({ chased_at: "2026-11-28T03:00:00Z", state: "closed" })).find('[data-testid="chased-mark"]').exists()).toBe(false);
  });

  it("names the unit holding the letter when it is not the user's own", () => {
    expect(render(row(), "福田派出所").get('[data-testid="row-holder"]').text()).toBe("福田派出所");
    expect(render(row()).find('[data-testid="row-holder"]').exists()).toBe(false);
  });
});
