import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { flushPromises, mount } from "@vue/test-utils";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import App from "./App.vue";
import { resetAppState } from "./app/state";
import { createAppI18n, LOCALE_STORAGE_KEY } from "./i18n";
import type { AppInfo } from "./ipc";

const INFO: AppInfo = {
  productName: "接诉即办工作台",
  version: "9.8.7",
  connection: { state: "disconnected" },
};

async function mountApp() {
  const wrapper = mount(App, { global: { plugins: [createAppI18n()] }, attachTo: document.body });
  await flushPromises();
  return wrapper;
}

describe("the first screen (signed out)", () => {
  const calls: string[] = [];

  beforeEach(() => {
    localStorage.clear();
    resetAppState();
    calls.length = 0;
    mockIPC((cmd) => {
      calls.push(cmd);
      if (cmd === "app_info") return INFO;
      if (cmd === "session" || cmd === "resume_session") return null;
      if (cmd === "settings") throw "Command settings not found";
      throw { code: "internal", message: `unexpected command ${cmd}` };
    });
  });

  afterEach(() => {
    clearMocks();
    document.body.innerHTML = "";
  });

  it("shows the product, the version from app_info, 未连接 and the login form", async () => {
    const wrapper = await mountApp();
    expect(calls).toContain("app_info");
    expect(calls).toContain("session");
    expect(wrapper.get('[data-testid="product-name"]').text()).toBe("接诉即办工作台");
    expect(wrapper.get('[data-testid="app-version"]').text()).toBe("9.8.7");
    const state = wrapper.get('[data-testid="connection-state"]');
    expect(state.text()).toBe("未连接");
    // Not colour alone: an icon goes with the text.
    expect(state.find("svg").exists()).toBe(true);
    expect(wrapper.find('[data-testid="login-screen"]').exists()).toBe(true);
    expect(document.documentElement.lang).toBe("zh-CN");
    wrapper.unmount();
  });

  it("switches to English and back, and remembers the choice", async () => {
    const wrapper = await mountApp();
    await wrapper.get('[data-testid="language-en"] input').setValue(true);
    expect(wrapper.get('[data-testid="connection-state"]').text()).toBe("Not connected");
    expect(wrapper.get('[data-testid="product-name"]').text()).toBe("Jiesu Jiban Desk");
    expect(localStorage.getItem(LOCALE_STORAGE_KEY)).toBe("en");
    expect(document.documentElement.lang).toBe("en");
    wrapper.unmount();

    // A restart starts in the remembered language.
    resetAppState();
    const again = await mountApp();
    expect(again.get('[data-testid="connection-state"]').text()).toBe("Not connected");
    await again.get('[data-testid="language-zh-CN"] input').setValue(true);
    expect(again.get('[data-testid="connection-state"]').text()).toBe("未连接");
    expect(localStorage.getItem(LOCALE_STORAGE_KEY)).toBe("zh-CN");
    again.unmount();
  });

  it("translates a command error's code and never shows its raw message", async () => {
    clearMocks();
    mockIPC(() => {
      throw { code: "internal", message: "database is locked" };
    });
    const wrapper = await mountApp();
    const alert = wrapper.get('[data-testid="app-error"]');
    expect(alert.text()).toContain("操作未能完成");
    expect(wrapper.text()).not.toContain("database is locked");
    wrapper.unmount();
  });
});
