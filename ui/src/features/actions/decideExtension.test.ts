// 审批延期: the decider sees what is asked before deciding — the date asked for, the
// deadline it would replace, the reason and the legal basis.
import { flushPromises, mount } from "@vue/test-utils";
import { afterEach, describe, expect, it } from "vitest";
import { createAppI18n } from "../../i18n";
import ActionDialog from "./ActionDialog.vue";

afterEach(() => {
  document.body.innerHTML = "";
});

describe("the extension decision dialog", () => {
  it("shows the request being decided", async () => {
    const wrapper = mount(ActionDialog, {
      props: {
        kind: "decide_extension",
        letterId: 9,
        version: 7,
        receivedAt: "2026-11-20T01:00:00Z",
        closureDue: "2026-12-05T01:00:00Z",
        pendingExtension: {
          requested_at: "2026-12-01T02:00:00Z",
          requested_due: "2026-12-20T10:00:00Z",
          current_due: "2026-12-05T01:00:00Z",
          reason: "需调取三个月监控录像",
          legal_basis: "《信访工作条例》第三十六条",
        },
      },
      global: { plugins: [createAppI18n()] },
      attachTo: document.body,
    });
    await flushPromises();
    const text = (id: string) => document.body.querySelector(`[data-testid="${id}"]`)?.textContent ?? "";
    expect(text("extension-requested-due")).toContain("2026");
    expect(text("extension-requested-due")).toContain("12");
    expect(text("extension-current-due")).not.toBe("");
    expect(text("extension-reason")).toBe("需调取三个月监控录像");
    expect(text("extension-legal-basis")).toBe("《信访工作条例》第三十六条");
    wrapper.unmount();
  });
});
