// 自动分派规则 in the console, over mocked commands (the commands and the server's rules
// are tested against the real server in crates/server/tests/routing_admin.rs).
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { flushPromises, mount } from "@vue/test-utils";
import { afterEach, describe, expect, it } from "vitest";
import { appState, resetAppState } from "../../app/state";
import { createAppI18n } from "../../i18n";
import RoutingPanel from "./RoutingPanel.vue";

const calls: { cmd: string; args: Record<string, unknown> }[] = [];
function install(handler: (cmd: string, args: Record<string, unknown>) => unknown) {
  calls.length = 0;
  mockIPC((cmd, args) => {
    const a = (args ?? {}) as Record<string, unknown>;
    calls.push({ cmd, args: a });
    return handler(cmd, a);
  });
}
async function settle() {
  for (let i = 0; i < 5; i++) await flushPromises();
}
const body = (sel: string) => document.body.querySelector(sel) as HTMLElement | null;
async function type(sel: string, value: string) {
  const input = body(`${sel} input, ${sel} textarea`) as HTMLInputElement;
  input.value = value;
  input.dispatchEvent(new Event("input"));
  await settle();
}

afterEach(() => {
  clearMocks();
  document.body.innerHTML = "";
  resetAppState();
});

describe("the routing rules screen", () => {
  it("tries a sample letter on the draft, then saves it with a reason at the version edited", async () => {
    appState.session = {
      serverUrl: "http://x",
      me: {
        user_id: 40,
        username: "admin",
        display_name: "管理员",
        unit_id: 1,
        roles: ["admin"],
        units: [
          { id: 1, parent: null, tier: "city", name: "市局", active: true },
          { id: 2, parent: 1, tier: "branch", name: "福田分局", active: true },
          { id: 6, parent: 2, tier: "station", name: "华富派出所", active: true },
          { id: 7, parent: 2, tier: "station", name: "撤并派出所", active: false },
        ],
        must_change_password: false,
      },
    } as never;
    const rule = { name: "华富辖区", categories: [], keywords: ["华富路"], to_unit: 6 };
    install((cmd, args) => {
      if (cmd === "routing_rules") return { version: 3, rules: { rules: [rule] }, saved_at: "2026-12-01T02:00:00Z", saved_by: 40, reason: "x" };
      if (cmd === "test_routing_rules") return { rule_index: 0, rule_name: "华富辖区", to_unit: 6 };
      if (cmd === "save_routing_rules") return { version: 4, rules: args.rules, saved_at: "2026-12-07T02:00:00Z", saved_by: 40, reason: args.reason };
      return null;
    });
    const w = mount(RoutingPanel, { global: { plugins: [createAppI18n()] }, attachTo: document.body });
    await settle();
    expect(w.get('[data-testid="admin-routing-version"]').text()).toContain("第 3 版");
    const save = w.get('[data-testid="admin-routing-save"]').element as HTMLButtonElement;
    expect(save.disabled, "nothing changed yet").toBe(true);
    await type('[data-testid="admin-routing-test-body"]', "华富路夜间施工");
    await w.get('[data-testid="admin-routing-test-run"]').trigger("click");
    await settle();
    expect(w.get('[data-testid="admin-routing-test-result"]').text()).toBe("符合第 1 条规则「华富辖区」：将自动派往华富派出所。");
    // A second rule; the deactivated station is no target.
    await w.get('[data-testid="admin-routing-add"]').trigger("click");
    await settle();
    await w.get('[data-testid="admin-routing-rule-1"] [data-testid="admin-routing-to"] .n-base-selection').trigger("click");
    await settle();
    const options = [...document.querySelectorAll(".n-base-select-option")].map((o) => o.textContent?.trim());
    expect(options).toEqual(["福田分局（分局）", "华富派出所（派出所）"]);
    await w.get('[data-testid="admin-routing-rule-1"] [data-testid="admin-routing-remove"]').trigger("click");
    await settle();
    await type('[data-testid="admin-routing-rule-0"] [data-testid="admin-routing-name"]', "华富街道");
    await type('[data-testid="admin-routing-reason"]', "更名");
    expect(save.disabled).toBe(false);
    save.click();
    await settle();
    const sent = calls.find((c) => c.cmd === "save_routing_rules");
    expect(sent?.args).toEqual({ rules: { rules: [{ ...rule, name: "华富街道" }] }, expectedVersion: 3, reason: "更名" });
    expect(w.get('[data-testid="admin-routing-done"]').text()).toContain("第 4 版");
    w.unmount();
  });
});
