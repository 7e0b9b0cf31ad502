// The handover screen against the mock backend: the lists apart, a tick per letter on
// every list it is on, 交班人 among the colleagues, the count on the button, a warning
// before acknowledging with letters unticked, and the history line with the note.
import { clearMocks } from "@tauri-apps/api/mocks";
import type { VueWrapper } from "@vue/test-utils";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { appState, resetAppState, setView } from "../../app/state";
import { installMockApp, mountApp, settle, type Call } from "../../dev/testApp";
import type { HandoverReport } from "../../ipc";

const calls: Call[] = [];

async function openHandover(): Promise<{ wrapper: VueWrapper; report: HandoverReport }> {
  const backend = installMockApp({ letters: 60, nowMs: Date.parse("2026-11-28T04:00:00Z") }, calls);
  const wrapper = await mountApp();
  setView("handover");
  await settle();
  return { wrapper, report: backend.handle("handover") as HandoverReport };
}

beforeEach(() => {
  localStorage.clear();
  resetAppState();
  calls.length = 0;
});

afterEach(() => {
  clearMocks();
  document.body.innerHTML = "";
});

describe("the handover screen", () => {
  it("lists each kind apart, ticks once per letter, names both officers and warns before an incomplete handover", async () => {
    const { wrapper, report } = await openHandover();
    const headings = wrapper.findAll(".column h3").map((h) => h.text().replace(/\s*\d+$/, ""));
    expect(headings).toEqual(["待签收", "已签收未联系来信人", "被催办未处理", "已超期", "即将超期", "约定回拨"]);
    for (const kind of ["not_signed_for", "overdue", "about_to_breach", "promised_callback"]) {
      expect(report.items.some((i) => i.kind === kind), kind).toBe(true);
    }
    const letters = new Set(report.items.map((i) => i.letter_id));
    const button = () => wrapper.get('[data-testid="handover-ack"]');
    expect(button().text()).toBe(`确认接班（已勾选 0/${letters.size}）`);
    expect(wrapper.get('[data-testid="handover-incoming"]').text()).toBe(`接班人：${appState.session?.me.display_name}`);

    // A letter on two lists: one tick shows on both and counts once.
    const twice = report.items.find((i, n) => report.items.findIndex((j) => j.letter_id === i.letter_id) !== n);
    expect(twice).toBeDefined();
    const boxes = () => wrapper.findAll(`[data-testid$="-${twice?.letter_id}"].n-checkbox`);
    expect(boxes().length).toBeGreaterThan(1);
    await boxes()[0]?.trigger("click");
    await settle();
    expect(boxes().every((b) => b.classes().includes("n-checkbox--checked"))).toBe(true);
    expect(button().text()).toBe(`确认接班（已勾选 1/${letters.size}）`);

    // Not all ticked: asked first; going back sends nothing.
    await button().trigger("click");
    await settle();
    const dialog = () => document.body.querySelector(".n-dialog");
    expect(dialog()?.textContent).toContain(`共 ${letters.size} 件来信，还有 ${letters.size - 1} 件未勾选核对`);
    (document.body.querySelector(".n-dialog__action .n-button:not(.n-button--warning-type)") as HTMLElement).click();
    await settle();
    expect(calls.some((c) => c.cmd === "acknowledge_handover")).toBe(false);

    // Going on: sent with the tick (and no outgoing officer named).
    await button().trigger("click");
    await settle();
    (document.body.querySelector(".n-dialog__action .n-button--warning-type") as HTMLElement).click();
    await settle();
    const sent = calls.find((c) => c.cmd === "acknowledge_handover");
    expect(sent?.args).toMatchObject({ handedOverBy: null, checkedIds: [twice?.letter_id] });
    const history = wrapper.get('[data-testid="handover-history"]').text();
    expect(history).toContain(`— → ${appState.session?.me.display_name}`);
    expect(history).toContain(`勾选 1/${letters.size}`);
    wrapper.unmount();
  });

  it("acknowledges at once when every letter is ticked, naming the outgoing officer, and shows the note", async () => {
    const { wrapper, report } = await openHandover();
    for (const id of new Set(report.items.map((i) => i.letter_id))) {
      await wrapper.find(`[data-testid$="-${id}"].n-checkbox`).trigger("click");
    }
    // The outgoing officer is chosen from the colleagues (the choice itself is Naive UI's).
    const colleague = appState.people.find((p) => p.unit_id === appState.session?.me.unit_id && p.id !== appState.session?.me.user_id);
    expect(colleague).toBeDefined();
    const select = wrapper.findComponent({ name: "Select" });
    select.vm.$emit("update:value", colleague?.id);
    await wrapper.find(".note-input input").setValue("SZ 回访请留意");
    await settle();
    await wrapper.get('[data-testid="handover-ack"]').trigger("click");
    await settle();
    expect(document.body.querySelector(".n-dialog")).toBeNull();
    const sent = calls.find((c) => c.cmd === "acknowledge_handover");
    expect(sent?.args).toMatchObject({ note: "SZ 回访请留意", handedOverBy: colleague?.id });
    const history = wrapper.get('[data-testid="handover-history"]').text();
    expect(history).toContain(`${colleague?.display_name} → ${appState.session?.me.display_name}`);
    expect(history).toContain("说明：SZ 回访请留意");
    wrapper.unmount();
  });
});
