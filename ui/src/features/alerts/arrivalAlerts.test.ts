// Issue 13 item 2, in the signed-in app against the mock backend: the arrival banner that
// stays until acted on, the window title's count, opening the newest arrival (from the
// banner, or when the window regains focus after an unattended arrival), and the
// persistent notice when there is no sound device.
import { emit } from "@tauri-apps/api/event";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { flushPromises, mount, type VueWrapper } from "@vue/test-utils";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import App from "../../App.vue";
import { appState, resetAppState, windowTitle } from "../../app/state";
import { createMockBackend, type MockBackend } from "../../dev/mockBackend";
import { createAppI18n } from "../../i18n";

let backend: MockBackend;

function install(options: Parameters<typeof createMockBackend>[0] = {}) {
  backend = createMockBackend({ letters: 10, nowMs: Date.parse("2026-11-28T04:00:00Z"), ...options });
  mockIPC((cmd, args) => backend.handle(cmd, args as Record<string, unknown>), { shouldMockEvents: true });
  backend.onEvent((event, payload) => void emit(event, payload));
}

async function settle() {
  for (let i = 0; i < 6; i++) await flushPromises();
}

async function mountApp(): Promise<VueWrapper> {
  const wrapper = mount(App, { global: { plugins: [createAppI18n()] }, attachTo: document.body });
  await settle();
  return wrapper;
}

beforeEach(() => {
  localStorage.clear();
  resetAppState();
});

afterEach(() => {
  clearMocks();
  document.body.innerHTML = "";
  vi.restoreAllMocks();
});

describe("the window title", () => {
  it.each([
    [0, "接诉即办工作台"],
    [1, "(1) 接诉即办工作台"],
    [2, "(2) 接诉即办工作台"],
    [128, "(128) 接诉即办工作台"],
  ])("with %i waiting reads %s", (n, title) => {
    expect(windowTitle(n, "接诉即办工作台")).toBe(title);
  });

  it("carries the count of letters waiting to be signed for, live", async () => {
    install();
    const wrapper = await mountApp();
    const before = appState.waiting.length;
    expect(before).toBeGreaterThan(0);
    expect(document.title).toBe(`(${before}) 接诉即办工作台`);
    backend.arrive("新来信：噪音");
    await settle();
    expect(document.title).toBe(`(${before + 1}) 接诉即办工作台`);
    wrapper.unmount();
    expect(document.title).toBe("接诉即办工作台");
  });
});

describe("the arrival banner", () => {
  it("stays, counts the arrivals and opens the newest", async () => {
    install();
    const wrapper = await mountApp();
    expect(wrapper.find('[data-testid="arrival-banner"]').exists()).toBe(false);
    backend.arrive("第一封");
    const newest = backend.arrive("第二封");
    await settle();
    const banner = wrapper.get('[data-testid="arrival-banner"]');
    expect(banner.text()).toContain("新来件 2 件");
    // It does not go away by itself: another sync, another view.
    await emit("letters-changed", { ids: [] });
    await settle();
    expect(wrapper.find('[data-testid="arrival-banner"]').exists()).toBe(true);
    await wrapper.get('[data-testid="arrival-open"]').trigger("click");
    await settle();
    expect(wrapper.get('[data-testid="letter-detail"]').attributes("data-letter")).toBe(String(newest));
    // The opened one leaves the banner; the other still calls for attention.
    expect(wrapper.get('[data-testid="arrival-banner"]').text()).toContain("新来件 1 件");
    wrapper.unmount();
  });

  it("goes when acknowledged, while the title still counts what waits", async () => {
    install();
    const wrapper = await mountApp();
    backend.arrive("一封");
    await settle();
    const count = appState.waiting.length;
    await wrapper.get('[data-testid="arrival-ack"]').trigger("click");
    await settle();
    expect(wrapper.find('[data-testid="arrival-banner"]').exists()).toBe(false);
    expect(document.title).toBe(`(${count}) 接诉即办工作台`);
    wrapper.unmount();
  });

  it("opens the newest arrival when the window regains focus after an unattended one", async () => {
    install();
    const wrapper = await mountApp();
    const focus = vi.spyOn(document, "hasFocus").mockReturnValue(false);
    const id = backend.arrive("窗口不在前台时到达");
    await settle();
    focus.mockReturnValue(true);
    window.dispatchEvent(new Event("focus"));
    await settle();
    expect(wrapper.get('[data-testid="letter-detail"]').attributes("data-letter")).toBe(String(id));
    // Only once: focusing again later does not reopen it.
    expect(appState.arrivedWhileAway).toBe(false);
    wrapper.unmount();
  });

  it("does not jump to a letter when the arrival came while the user was looking", async () => {
    install();
    const wrapper = await mountApp();
    vi.spyOn(document, "hasFocus").mockReturnValue(true);
    backend.arrive("在前台时到达");
    await settle();
    window.dispatchEvent(new Event("focus"));
    await settle();
    expect(wrapper.find('[data-testid="letter-detail"]').exists()).toBe(false);
    wrapper.unmount();
  });
});

describe("without a sound device", () => {
  it("says so persistently above every screen", async () => {
    install({ soundAvailable: false });
    const wrapper = await mountApp();
    const notice = wrapper.get('[data-testid="no-sound-device"]');
    expect(notice.text()).toContain("本机没有可用的声音设备，来件提示音无法播放");
    backend.arrive("一封");
    await settle();
    expect(wrapper.find('[data-testid="no-sound-device"]').exists()).toBe(true);
    wrapper.unmount();
  });

  it("shows nothing when the chime can play", async () => {
    install();
    const wrapper = await mountApp();
    expect(wrapper.find('[data-testid="no-sound-device"]').exists()).toBe(false);
    wrapper.unmount();
  });
});
