// Issue 13.4 and 13.5 on the mounted app (mock backend): an open letter reacts when its
// closure deadline passes — the clock turns red and 已超期, 申请延期 is disabled in its
// slot — without reopening; the next expected action stays first, the others in place.
import { emit } from "@tauri-apps/api/event";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { flushPromises, mount } from "@vue/test-utils";
import { afterEach, expect, it, vi } from "vitest";
import App from "../../App.vue";
import { resetAppState } from "../../app/state";
import { createMockBackend } from "../../dev/mockBackend";
import { createAppI18n } from "../../i18n";

async function settle() {
  for (let i = 0; i < 8; i++) await flushPromises();
}

afterEach(() => {
  clearMocks();
  document.body.innerHTML = "";
  vi.useRealTimers();
});

it("updates the open letter's clocks and actions the moment its closure deadline passes", async () => {
  vi.useFakeTimers({ shouldAdvanceTime: false, toFake: ["setInterval", "clearInterval", "setTimeout", "clearTimeout", "Date"] });
  const start = Date.parse("2026-11-28T04:00:00Z");
  vi.setSystemTime(start);
  localStorage.clear();
  resetAppState();
  const backend = createMockBackend({ letters: 30, nowMs: start });
  mockIPC((cmd, args) => backend.handle(cmd, args as Record<string, unknown>), { shouldMockEvents: true });
  backend.onEvent((event, payload) => void emit(event, payload));
  const wrapper = mount(App, { global: { plugins: [createAppI18n()] }, attachTo: document.body });
  await settle();

  // A letter in 办理中 whose closure clock still runs.
  const rows = wrapper.findAll('[data-row][data-state="handling"]');
  expect(rows.length).toBeGreaterThan(0);
  let opened = false;
  for (const row of rows) {
    await row.trigger("click");
    await settle();
    if (wrapper.find('[data-testid="action-request_extension"]').exists()) {
      opened = true;
      break;
    }
  }
  expect(opened).toBe(true);
  const closure = () => wrapper.get('[data-testid="clocks"] [data-clock="closure"]');
  const extension = () => wrapper.get('[data-testid="action-request_extension"]');
  const order = () => wrapper.findAll('[data-testid="detail-actions"] button').map((b) => b.attributes("data-testid"));
  expect(closure().attributes("data-state")).toBe("running");
  expect(extension().attributes("disabled")).toBeUndefined();
  const before = order();
  // The next expected action of a letter in 办理中 comes first.
  expect(before[0]).toMatch(/^action-(record_contact|give_first_feedback|submit_feedback_form)$/);
  expect(wrapper.get(`[data-testid="${before[0]}"]`).attributes("data-primary")).toBe("true");

  // Two seconds before the closure deadline, then past it: no reopening in between.
  const due = Date.parse(closure().attributes("data-due") ?? "");
  expect(Number.isNaN(due)).toBe(false);
  vi.setSystemTime(due - 2000);
  vi.advanceTimersByTime(1000);
  await settle();
  expect(closure().attributes("data-state")).toBe("running");
  expect(extension().attributes("disabled")).toBeUndefined();
  vi.advanceTimersByTime(2000);
  await settle();
  expect(closure().attributes("data-state")).toBe("breached");
  expect(closure().attributes("data-band")).toBe("overdue");
  expect(closure().text()).toContain("已超期");
  expect(closure().get('[data-testid="countdown"]').text()).toMatch(/^超期 0分\d秒$/);
  // 申请延期 is disabled where it was; no button moved.
  expect(extension().attributes("disabled")).toBeDefined();
  expect(order()).toEqual(before);
  wrapper.unmount();
});
