// 代签授权 on the chief's screen: the card over mocked commands (the commands themselves
// are tested against the real server in src-tauri/tests/admin.rs).
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { flushPromises, mount } from "@vue/test-utils";
import { afterEach, describe, expect, it } from "vitest";
import { appState, resetAppState } from "../../app/state";
import { createAppI18n } from "../../i18n";
import DelegationsCard from "./DelegationsCard.vue";

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

afterEach(() => {
  clearMocks();
  document.body.innerHTML = "";
});

describe("the chief's delegations", () => {
  it("grants a colleague of the unit, lists the grant with its state, and revokes it after confirming", async () => {
    resetAppState();
    appState.session = {
      serverUrl: "http://x",
      me: { user_id: 7, username: "futian.chief", display_name: "陈所长", unit_id: 5, roles: ["chief"], units: [], must_change_password: false },
    } as never;
    const now = Date.now();
    const grant = {
      id: 31,
      unit_id: 5,
      chief: 7,
      deputy: 8,
      valid_from: new Date(now - 3600_000).toISOString(),
      valid_until: new Date(now + 86_400_000).toISOString(),
      category: null,
      note: "出差期间",
      created_at: new Date(now).toISOString(),
      revoked_at: null,
    };
    let granted = false;
    install((cmd) => {
      if (cmd === "directory")
        return [
          { id: 7, display_name: "陈所长", unit_id: 5, roles: ["chief"] },
          { id: 8, display_name: "王副所长", unit_id: 5, roles: ["officer"] },
          { id: 9, display_name: "别处同事", unit_id: 6, roles: ["officer"] },
        ];
      if (cmd === "delegations") return granted ? [grant] : [];
      if (cmd === "grant_delegation") {
        granted = true;
        return grant;
      }
      if (cmd === "revoke_delegation") return { ...grant, revoked_at: new Date().toISOString() };
      return null;
    });
    const w = mount(DelegationsCard, { global: { plugins: [createAppI18n()] }, attachTo: document.body });
    await settle();
    expect(w.get('[data-testid="delegations-empty"]').text()).toContain("暂无代签授权");
    const grantButton = w.get('[data-testid="delegation-grant"]').element as HTMLButtonElement;
    expect(grantButton.disabled, "no deputy chosen").toBe(true);
    await w.get('[data-testid="delegation-deputy"] .n-base-selection').trigger("click");
    await settle();
    const options = [...document.querySelectorAll(".n-base-select-option")].map((o) => o.textContent?.trim());
    expect(options, "only the unit's colleagues, not the chief").toEqual(["王副所长"]);
    (document.querySelector(".n-base-select-option") as HTMLElement).click();
    await settle();
    grantButton.click();
    await settle();
    const sent = calls.find((c) => c.cmd === "grant_delegation");
    expect(sent?.args).toMatchObject({ deputy: 8, category: null, note: "" });
    expect(w.get('[data-testid="delegations-done"]').text()).toContain("已授权王副所长代签");
    expect(w.get('[data-testid="delegation-31"] [data-testid="delegation-state"]').text()).toBe("生效中");
    await w.get('[data-testid="delegation-revoke"]').trigger("click");
    await settle();
    const confirm = [...document.querySelectorAll(".n-popconfirm__action button")].pop() as HTMLButtonElement;
    confirm.click();
    await settle();
    expect(calls.filter((c) => c.cmd === "revoke_delegation")).toEqual([{ cmd: "revoke_delegation", args: { delegationId: 31 } }]);
    w.unmount();
    resetAppState();
  });
});
