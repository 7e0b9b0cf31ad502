// The admin console's 签名密钥 screen against mockIPC: the list, the fingerprint grouped
// by four in the confirm dialog, dual control's answers, refusals in Chinese, and a
// revocation that cannot be sent without a reason.
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { flushPromises, mount, type VueWrapper } from "@vue/test-utils";
import { afterEach, describe, expect, it } from "vitest";
import { createAppI18n } from "../../i18n";
import type { AdminKey, AdminUser } from "../../ipc/bindings";
import { groupedFingerprint } from "./api";
import ChangePasswordDialog from "./ChangePasswordDialog.vue";
import KeysPanel from "./KeysPanel.vue";
import UnitsPanel from "./UnitsPanel.vue";
import UsersPanel from "./UsersPanel.vue";
import { appState, resetAppState } from "../../app/state";

const FP = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

function key(id: number, state: "pending" | "active" | "revoked", approvals: number[] = []): AdminKey {
  return {
    key: {
      id,
      user_id: 40 + id,
      unit_id: 3,
      public_key_pem: "-----BEGIN PUBLIC KEY-----",
      fingerprint: FP,
      label: "desk-1",
      state,
      created_at: "2026-12-01T02:00:00Z",
      activated_at: null,
      revoked_at: null,
    },
    owner_username: `chief${id}`,
    owner_display_name: `王所长${id}`,
    unit_name: "福田派出所",
    approvals,
    approver_names: approvals.map((a) => `管理员${a}`),
    approvals_required: 2,
  } as AdminKey;
}

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

async function mountPanel(): Promise<VueWrapper> {
  const wrapper = mount(KeysPanel, { global: { plugins: [createAppI18n()] }, attachTo: document.body });
  await settle();
  return wrapper;
}

const body = (sel: string) => document.body.querySelector(sel) as HTMLElement | null;

afterEach(() => {
  clearMocks();
  document.body.innerHTML = "";
});

describe("the signing keys screen", () => {
  it("groups a fingerprint by four", () => {
    expect(groupedFingerprint("a1b2c3d4e5")).toBe("a1b2 c3d4 e5");
  });

  it("lists owner, unit, grouped fingerprint, state and approvals, pending first", async () => {
    install((cmd) => (cmd === "admin_keys" ? [key(1, "active", [7, 8]), key(2, "pending", [7])] : null));
    const w = await mountPanel();
    const rows = w.findAll("tbody tr");
    expect(rows[0]?.attributes("data-testid")).toBe("admin-key-2");
    const pending = w.get('[data-testid="admin-key-2"]');
    expect(pending.text()).toContain("王所长2");
    expect(pending.text()).toContain("福田派出所");
    expect(pending.get('[data-testid="admin-key-fingerprint"]').text()).toBe(groupedFingerprint(FP));
    expect(pending.get('[data-testid="admin-key-state"]').text()).toBe("待批准");
    expect(pending.get('[data-testid="admin-key-approvals"]').text()).toContain("1 / 2");
    expect(pending.get('[data-testid="admin-key-approvals"]').text()).toContain("管理员7");
    // An active key can be revoked but not approved again.
    const active = w.get('[data-testid="admin-key-1"]');
    expect(active.find('[data-testid="admin-key-approve"]').exists()).toBe(false);
    expect(active.find('[data-testid="admin-key-revoke"]').exists()).toBe(true);
    w.unmount();
  });

  it("approves only from the dialog showing the fingerprint, and says a second admin must follow", async () => {
    install((cmd) => {
      if (cmd === "admin_keys") return [key(2, "pending")];
      if (cmd === "approve_signing_key") return { key: key(2, "pending").key, approvals: [7], approvals_required: 2 };
      return null;
    });
    const w = await mountPanel();
    await w.get('[data-testid="admin-key-approve"]').trigger("click");
    await settle();
    expect(calls.some((c) => c.cmd === "approve_signing_key")).toBe(false);
    expect(body('[data-testid="admin-approve-fingerprint"]')?.textContent).toBe(groupedFingerprint(FP));
    body('[data-testid="admin-approve-confirm"]')?.click();
    await settle();
    expect(calls.filter((c) => c.cmd === "approve_signing_key")).toEqual([{ cmd: "approve_signing_key", args: { keyId: 2 } }]);
    expect(w.get('[data-testid="admin-keys-done"]').text()).toContain("还须另一名独立的管理员批准");
    w.unmount();
  });

  it("shows the server's dual-control refusals in Chinese in the dialog", async () => {
    for (const [code, text] of [
      ["already_approved", "您已批准过这把密钥"],
      ["approver_not_independent", "不相互独立"],
      ["forbidden", "您无权进行此操作"],
    ]) {
      install((cmd) => {
        if (cmd === "admin_keys") return [key(2, "pending", [7])];
        if (cmd === "approve_signing_key") throw { code, message: "refused" };
        return null;
      });
      const w = await mountPanel();
      await w.get('[data-testid="admin-key-approve"]').trigger("click");
      await settle();
      body('[data-testid="admin-approve-confirm"]')?.click();
      await settle();
      expect(body('[data-testid="admin-dialog-error"]')?.textContent).toContain(text);
      w.unmount();
      document.body.innerHTML = "";
    }
  });

  it("revokes only with a reason, and sends it", async () => {
    install((cmd) => {
      if (cmd === "admin_keys") return [key(1, "active", [7, 8])];
      if (cmd === "revoke_signing_key") return key(1, "revoked").key;
      return null;
    });
    const w = await mountPanel();
    await w.get('[data-testid="admin-key-revoke"]').trigger("click");
    await settle();
    const confirm = body('[data-testid="admin-revoke-confirm"]') as HTMLButtonElement;
    expect(confirm.disabled).toBe(true);
    const input = body('[data-testid="admin-revoke-reason"] textarea') as HTMLTextAreaElement;
    input.value = "密钥遗失";
    input.dispatchEvent(new Event("input"));
    await settle();
    expect(confirm.disabled).toBe(false);
    confirm.click();
    await settle();
    expect(calls.filter((c) => c.cmd === "revoke_signing_key")).toEqual([
      { cmd: "revoke_signing_key", args: { keyId: 1, reason: "密钥遗失" } },
    ]);
    expect(w.get('[data-testid="admin-keys-done"]').text()).toContain("已吊销");
    w.unmount();
  });
});

describe("the users screen", () => {
  const user = (over: Partial<AdminUser> = {}): AdminUser =>
    ({
      id: 9,
      username: "nt.liu",
      display_name: "刘警官",
      unit_id: 3,
      roles: ["officer"],
      active: true,
      must_change_password: false,
      last_login_at: null,
      ...over,
    }) as AdminUser;

  async function mountUsers(): Promise<VueWrapper> {
    const w = mount(UsersPanel, { global: { plugins: [createAppI18n()] }, attachTo: document.body });
    await settle();
    return w;
  }

  it("lists role names in Chinese, the state, and a never-used account as 从未登录", async () => {
    install((cmd) => (cmd === "admin_users" ? [user({ must_change_password: true }), user({ id: 10, username: "old", active: false })] : null));
    const w = await mountUsers();
    const row = w.get('[data-testid="admin-user-nt.liu"]');
    expect(row.text()).toContain("承办民警");
    expect(row.text()).toContain("从未登录");
    expect(row.text()).toContain("下次登录须改密码");
    expect(w.get('[data-testid="admin-user-old"] [data-testid="admin-user-state"]').text()).toBe("已停用");
    w.unmount();
  });

  it("deactivates only with a reason, and sends it", async () => {
    install((cmd) => {
      if (cmd === "admin_users") return [user()];
      if (cmd === "set_user_active") return user({ active: false });
      return null;
    });
    const w = await mountUsers();
    await w.get('[data-testid="admin-user-toggle"]').trigger("click");
    await settle();
    const confirm = body('[data-testid="admin-user-toggle-confirm"]') as HTMLButtonElement;
    expect(confirm.disabled).toBe(true);
    const input = body('[data-testid="admin-user-reason"] input') as HTMLInputElement;
    input.value = "调离";
    input.dispatchEvent(new Event("input"));
    await settle();
    confirm.click();
    await settle();
    expect(calls.filter((c) => c.cmd === "set_user_active")).toEqual([
      { cmd: "set_user_active", args: { userId: 9, active: false, reason: "调离" } },
    ]);
    expect(w.get('[data-testid="admin-users-done"]').text()).toContain("已停用刘警官");
    w.unmount();
  });
});

describe("强制下线", () => {
  it("signs a user out everywhere only with a reason, and says how many sessions ended", async () => {
    const u = { id: 9, username: "nt.liu", display_name: "刘警官", unit_id: 3, roles: ["officer"], active: true, must_change_password: false, last_login_at: null } as AdminUser;
    install((cmd) => (cmd === "admin_users" ? [u] : cmd === "revoke_user_sessions" ? 2 : null));
    const w = mount(UsersPanel, { global: { plugins: [createAppI18n()] }, attachTo: document.body });
    await settle();
    await w.get('[data-testid="admin-user-sign-out"]').trigger("click");
    await settle();
    const confirm = body('[data-testid="admin-user-sign-out-confirm"]') as HTMLButtonElement;
    expect(confirm.disabled).toBe(true);
    const reason = body('[data-testid="admin-user-sign-out-reason"] input') as HTMLInputElement;
    reason.value = "工作站遗失";
    reason.dispatchEvent(new Event("input"));
    await settle();
    confirm.click();
    await settle();
    expect(calls.filter((c) => c.cmd === "revoke_user_sessions")).toEqual([{ cmd: "revoke_user_sessions", args: { userId: 9, reason: "工作站遗失" } }]);
    expect(w.get('[data-testid="admin-users-done"]').text()).toContain("已让刘警官下线（结束登录 2 个）");
    w.unmount();
  });
});

describe("editing a user", () => {
  const user = {
    id: 9,
    username: "nt.liu",
    display_name: "刘警官",
    unit_id: 5,
    roles: ["chief"],
    active: true,
    must_change_password: false,
    last_login_at: null,
  } as AdminUser;

  it("sends only what changed, with the reason, and says what the change ended", async () => {
    resetAppState();
    appState.session = {
      serverUrl: "http://x",
      me: { user_id: 40, username: "admin", display_name: "管理员", unit_id: 1, roles: ["admin"], units: [{ id: 5, parent: 2, tier: "station", name: "福田派出所", active: true }], must_change_password: false },
    } as never;
    install((cmd) => {
      if (cmd === "admin_users") return [user];
      if (cmd === "update_user") return { user: { ...user, roles: ["officer"] }, sessions_revoked: 1, keys_revoked: 1, delegations_revoked: 2 };
      return null;
    });
    const w = mount(UsersPanel, { global: { plugins: [createAppI18n()] }, attachTo: document.body });
    await settle();
    await w.get('[data-testid="admin-user-edit"]').trigger("click");
    await settle();
    expect(body('[data-testid="admin-user-edit-form"]')?.parentElement?.textContent ?? "").toContain("签名密钥");
    (body('[data-testid="admin-user-edit-role-chief"]') as HTMLElement).click();
    await settle();
    (body('[data-testid="admin-user-edit-role-officer"]') as HTMLElement).click();
    await settle();
    const confirm = body('[data-testid="admin-user-edit-confirm"]') as HTMLButtonElement;
    expect(confirm.disabled, "a reason is required").toBe(true);
    const reason = body('[data-testid="admin-user-edit-reason"] input') as HTMLInputElement;
    reason.value = "岗位调整";
    reason.dispatchEvent(new Event("input"));
    await settle();
    confirm.click();
    await settle();
    // As sent over IPC (JSON: an unchanged field is left out).
    expect(JSON.parse(JSON.stringify(calls.filter((c) => c.cmd === "update_user")))).toEqual([
      { cmd: "update_user", args: { userId: 9, roles: ["officer"], reason: "岗位调整" } },
    ]);
    const done = w.get('[data-testid="admin-users-done"]').text();
    expect(done).toContain("已保存刘警官的修改");
    expect(done).toContain("吊销签名密钥 1 把");
    w.unmount();
    resetAppState();
  });
});

describe("changing one's own password", () => {
  async function fill(sel: string, value: string) {
    const input = body(`[data-testid="${sel}"] input`) as HTMLInputElement;
    input.value = value;
    input.dispatchEvent(new Event("input"));
    await settle();
  }

  it("when required, cannot be dismissed, checks the inputs, and sends both passwords", async () => {
    install(() => null);
    const w = mount(ChangePasswordDialog, { props: { show: true, required: true }, global: { plugins: [createAppI18n()] }, attachTo: document.body });
    await settle();
    expect(body('[data-testid="change-password-required"]')?.textContent).toContain("管理员设置");
    await fill("change-password-current", "officer-password-1");
    await fill("change-password-new", "short");
    expect(body('[data-testid="change-password-problem"]')?.textContent).toContain("至少 10 位");
    await fill("change-password-new", "my-own-password-7");
    await fill("change-password-again", "my-own-password-8");
    expect(body('[data-testid="change-password-problem"]')?.textContent).toContain("不一致");
    const submit = body('[data-testid="change-password-submit"]') as HTMLButtonElement;
    expect(submit.disabled).toBe(true);
    await fill("change-password-again", "my-own-password-7");
    expect(submit.disabled).toBe(false);
    submit.click();
    await settle();
    expect(calls).toEqual([
      { cmd: "change_own_password", args: { currentPassword: "officer-password-1", newPassword: "my-own-password-7" } },
    ]);
    expect(w.emitted("done")).toHaveLength(1);
    w.unmount();
  });

  it("shows a wrong current password in Chinese", async () => {
    install(() => {
      throw { code: "wrong_password", message: "x" };
    });
    const w = mount(ChangePasswordDialog, { props: { show: true }, global: { plugins: [createAppI18n()] }, attachTo: document.body });
    await settle();
    await fill("change-password-current", "wrong-password-0");
    await fill("change-password-new", "my-own-password-7");
    await fill("change-password-again", "my-own-password-7");
    (body('[data-testid="change-password-submit"]') as HTMLButtonElement).click();
    await settle();
    expect(body('[data-testid="change-password-error"]')?.textContent).toContain("当前密码不正确");
    expect(w.emitted("done")).toBeUndefined();
    w.unmount();
  });
});

describe("the units screen", () => {
  it("lists the admin's subtree and renames a unit only with a reason", async () => {
    resetAppState();
    appState.session = {
      serverUrl: "http://x",
      me: {
        user_id: 40,
        username: "admin",
        display_name: "管理员",
        unit_id: 2,
        roles: ["admin"],
        units: [
          { id: 1, parent: null, tier: "city", name: "市局", active: true },
          { id: 2, parent: 1, tier: "branch", name: "福田分局", active: true },
          { id: 5, parent: 2, tier: "station", name: "福田派出所", active: true },
          { id: 3, parent: 1, tier: "branch", name: "南山分局", active: true },
        ],
        must_change_password: false,
      },
    } as never;
    install((cmd, args) => (cmd === "rename_unit" ? { id: 5, parent: 2, tier: "station", name: args.name, active: true } : null));
    const w = mount(UnitsPanel, { global: { plugins: [createAppI18n()] }, attachTo: document.body });
    await settle();
    expect(w.findAll("tbody tr").map((r) => r.attributes("data-testid"))).toEqual(["admin-unit-2", "admin-unit-5"]);
    await w.get('[data-testid="admin-unit-5"] [data-testid="admin-unit-rename"]').trigger("click");
    await settle();
    const confirm = body('[data-testid="admin-unit-rename-confirm"]') as HTMLButtonElement;
    const name = body('[data-testid="admin-unit-name"] input') as HTMLInputElement;
    name.value = "福田街道派出所";
    name.dispatchEvent(new Event("input"));
    await settle();
    expect(confirm.disabled).toBe(true);
    const reason = body('[data-testid="admin-unit-reason"] input') as HTMLInputElement;
    reason.value = "机构调整";
    reason.dispatchEvent(new Event("input"));
    await settle();
    confirm.click();
    await settle();
    expect(calls).toEqual([{ cmd: "rename_unit", args: { unitId: 5, name: "福田街道派出所", reason: "机构调整" } }]);
    expect(w.get('[data-testid="admin-unit-5"]').text()).toContain("福田街道派出所");
    // A branch admin has no other branch: the station cannot move from here.
    expect(w.find('[data-testid="admin-unit-5"] [data-testid="admin-unit-move"]').exists()).toBe(false);
    w.unmount();
    resetAppState();
  });

  it("deactivates a unit only with a reason and shows it as 已停用", async () => {
    resetAppState();
    appState.session = {
      serverUrl: "http://x",
      me: {
        user_id: 40,
        username: "admin",
        display_name: "管理员",
        unit_id: 2,
        roles: ["admin"],
        units: [
          { id: 2, parent: 1, tier: "branch", name: "福田分局", active: true },
          { id: 5, parent: 2, tier: "station", name: "福田派出所", active: true },
        ],
        must_change_password: false,
      },
    } as never;
    install((cmd, args) => (cmd === "set_unit_active" ? { id: 5, parent: 2, tier: "station", name: "福田派出所", active: args.active } : null));
    const w = mount(UnitsPanel, { global: { plugins: [createAppI18n()] }, attachTo: document.body });
    await settle();
    expect(w.find('[data-testid="admin-unit-2"] [data-testid="admin-unit-toggle"]').exists(), "not one's own unit").toBe(false);
    await w.get('[data-testid="admin-unit-5"] [data-testid="admin-unit-toggle"]').trigger("click");
    await settle();
    const confirm = body('[data-testid="admin-unit-toggle-confirm"]') as HTMLButtonElement;
    expect(confirm.disabled).toBe(true);
    const reason = body('[data-testid="admin-unit-toggle-reason"] input') as HTMLInputElement;
    reason.value = "撤并";
    reason.dispatchEvent(new Event("input"));
    await settle();
    confirm.click();
    await settle();
    expect(calls).toEqual([{ cmd: "set_unit_active", args: { unitId: 5, active: false, reason: "撤并" } }]);
    expect(w.get('[data-testid="admin-unit-5"] [data-testid="admin-unit-inactive"]').text()).toBe("已停用");
    expect(w.get('[data-testid="admin-unit-5"] [data-testid="admin-unit-toggle"]').text()).toBe("启用");
    w.unmount();
    resetAppState();
  });

  it("moves a station only to another branch of the subtree, with a reason", async () => {
    resetAppState();
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
          { id: 5, parent: 2, tier: "station", name: "福田派出所", active: true },
          { id: 3, parent: 1, tier: "branch", name: "南山分局", active: true },
        ],
        must_change_password: false,
      },
    } as never;
    install((cmd, args) => (cmd === "move_unit" ? { id: 5, parent: args.parentId, tier: "station", name: "福田派出所", active: true } : null));
    const w = mount(UnitsPanel, { global: { plugins: [createAppI18n()] }, attachTo: document.body });
    await settle();
    expect(w.find('[data-testid="admin-unit-2"] [data-testid="admin-unit-move"]').exists(), "a branch does not move").toBe(false);
    await w.get('[data-testid="admin-unit-5"] [data-testid="admin-unit-move"]').trigger("click");
    await settle();
    (body('[data-testid="admin-unit-move-parent"] .n-base-selection') as HTMLElement).click();
    await settle();
    const options = [...document.querySelectorAll(".n-base-select-option")].map((o) => o.textContent?.trim());
    expect(options, "only the other branch").toEqual(["南山分局"]);
    (document.querySelector(".n-base-select-option") as HTMLElement).click();
    await settle();
    const reason = body('[data-testid="admin-unit-move-reason"] input') as HTMLInputElement;
    reason.value = "辖区调整";
    reason.dispatchEvent(new Event("input"));
    await settle();
    (body('[data-testid="admin-unit-move-confirm"]') as HTMLButtonElement).click();
    await settle();
    expect(calls).toEqual([{ cmd: "move_unit", args: { unitId: 5, parentId: 3, reason: "辖区调整" } }]);
    expect(w.get('[data-testid="admin-units-done"]').text()).toContain("福田派出所已调整到南山分局下");
    // The tree follows: the station now sits under 南山分局.
    const order = w.findAll("tbody tr").map((r) => r.attributes("data-testid"));
    expect(order.indexOf("admin-unit-5")).toBeGreaterThan(order.indexOf("admin-unit-3"));
    w.unmount();
    resetAppState();
  });
});
