// 导出日志 in the settings: the button asks Rust to export the log files under a dated
// name and a Chinese dialog title, and says where they went; a cancel says nothing.
import { clearMocks } from "@tauri-apps/api/mocks";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { resetAppState, setView } from "../../app/state";
import { installMockApp, mountApp, settle, type Call } from "../../dev/testApp";

const calls: Call[] = [];

beforeEach(() => {
  localStorage.clear();
  resetAppState();
  calls.length = 0;
});

afterEach(() => {
  clearMocks();
  document.body.innerHTML = "";
});

async function openSettings(cancel = false) {
  const backend = installMockApp({ letters: 3 }, calls);
  if (cancel) {
    const handle = backend.handle;
    backend.handle = (cmd: string, args?: Record<string, unknown>) => (cmd === "export_logs" ? null : handle(cmd, args));
  }
  const wrapper = await mountApp();
  setView("settings");
  await settle();
  return wrapper;
}

describe("导出日志", () => {
  it("exports the logs under a dated name and says where", async () => {
    const wrapper = await openSettings();
    const button = wrapper.get('[data-testid="settings-export-logs"]');
    expect(button.text()).toBe("导出日志…");
    await button.trigger("click");
    await settle();
    const sent = calls.find((c) => c.cmd === "export_logs");
    expect(sent?.args.dialogTitle).toBe("选择保存日志的文件夹");
    expect(String(sent?.args.fileName)).toMatch(/^接诉即办工作台日志-\d{4}-\d{2}-\d{2}\.txt$/);
    expect(document.body.textContent).toContain(`日志已导出：~/${String(sent?.args.fileName)}`);
    wrapper.unmount();
  });

  it("says nothing when the folder picker is cancelled", async () => {
    const wrapper = await openSettings(true);
    await wrapper.get('[data-testid="settings-export-logs"]').trigger("click");
    await settle();
    expect(calls.some((c) => c.cmd === "export_logs")).toBe(true);
    expect(document.body.textContent).not.toContain("日志已导出");
    expect(wrapper.find('[data-testid="settings-error"]').exists()).toBe(false);
    wrapper.unmount();
  });
});

describe("时限规则", () => {
  it("names the server's rules version and a provisional year", async () => {
    const wrapper = await openSettings();
    await settle();
    expect(wrapper.get('[data-testid="rules-version"]').text()).toContain("3f2a9c1b7d40e815");
    expect(wrapper.get('[data-testid="rules-provisional"]').text()).toContain("2027 年的节假日安排为暂定");
    wrapper.unmount();
  });

  it("says when the built-in rules apply (no rules served yet)", async () => {
    const backend = installMockApp({ letters: 3 }, calls);
    const handle = backend.handle;
    backend.handle = (cmd: string, args?: Record<string, unknown>) =>
      cmd === "clock_rules"
        ? { version: null, inForceSince: null, nextChangeAt: "2027-01-01T00:00:00Z", calendarYears: [2025, 2026], provisionalYears: [] }
        : handle(cmd, args);
    const wrapper = await mountApp();
    setView("settings");
    await settle();
    expect(wrapper.get('[data-testid="rules-version"]').text()).toContain("内置的深圳默认规则");
    expect(wrapper.get('[data-testid="rules-next"]').text()).toContain("2027-01-01 08:00");
    expect(wrapper.find('[data-testid="rules-provisional"]').exists()).toBe(false);
    wrapper.unmount();
  });
});
