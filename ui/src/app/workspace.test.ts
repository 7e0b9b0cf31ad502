// The signed-in app against the mock backend through mockIPC: rows, colours and live
// countdowns, one-click 签收, new arrivals, a hostile letter shown as text, login errors.
import { emit } from "@tauri-apps/api/event";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import type { VueWrapper } from "@vue/test-utils";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createMockBackend, type MockBackend, type MockOptions } from "../dev/mockBackend";
import { installMockApp, mountApp, settle as settleApp, type Call } from "../dev/testApp";
import { appState, resetAppState } from "./state";

let backend: MockBackend;
const calls: Call[] = [];

function install(options: MockOptions = {}) {
  backend = installMockApp({ letters: 30, nowMs: Date.parse("2026-11-28T04:00:00Z"), ...options }, calls);
}

const settle = () => settleApp(5);

beforeEach(() => {
  localStorage.clear();
  resetAppState();
  calls.length = 0;
});

afterEach(() => {
  clearMocks();
  document.body.innerHTML = "";
  vi.useRealTimers();
});

describe("the inbox", () => {
  it("shows rows coloured by their most urgent clock, with the clock's name and a countdown", async () => {
    install();
    const wrapper = await mountApp();
    expect(wrapper.find('[data-testid="inbox-screen"]').exists()).toBe(true);
    const first = wrapper.get('[data-testid="row-1"]');
    // Letter 1 was dispatched 4 minutes ago: 签收, 6 minutes left, green.
    expect(first.attributes("data-band")).toBe("ok");
    const badge = first.get('[data-testid="band-badge"]');
    expect(badge.text()).toMatch(/^签收\s*剩 [56]分\d{1,2}秒$/);
    // Letter 2: 1:30 left, inside the 3-minute warn window: amber.
    expect(wrapper.get('[data-testid="row-2"]').attributes("data-band")).toBe("warning");
    expect(badge.find("svg").exists()).toBe(true);
    // Letter 3 was dispatched 12 min 13 s ago: overdue, negative.
    const late = wrapper.get('[data-testid="row-3"]');
    expect(late.attributes("data-band")).toBe("overdue");
    expect(late.get('[data-testid="countdown"]').text()).toMatch(/^超期 2分1\d秒$/);
    // Counts per state in the tabs.
    expect(wrapper.get('[data-testid="tab-dispatched"]').text()).toMatch(/待签收\s*\d+/);
    wrapper.unmount();
  });

  it("ticks every second from the server's time", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: false, toFake: ["setInterval", "clearInterval", "Date"] });
    vi.setSystemTime(Date.parse("2026-11-28T04:00:00Z"));
    install();
    const wrapper = await mountApp();
    const text = () => wrapper.get('[data-testid="row-1"] [data-testid="countdown"]').text();
    const before = text();
    vi.advanceTimersByTime(3000);
    await settle();
    expect(text()).not.toBe(before);
    wrapper.unmount();
  });

  it("signs for a letter in one click from its row", async () => {
    install();
    const wrapper = await mountApp();
    await wrapper.get('[data-testid="row-1"] [data-testid="row-sign-for"]').trigger("click");
    await settle();
    const action = calls.find((c) => c.cmd === "take_action");
    expect(action?.args).toMatchObject({ letterId: 1, action: { action: "sign_for" } });
    expect(wrapper.get('[data-testid="row-1"]').attributes("data-state")).toBe("handling");
    wrapper.unmount();
  });

  it("queues an action while offline and marks the row 待同步", async () => {
    install({ offline: true });
    const wrapper = await mountApp();
    await wrapper.get('[data-testid="row-2"] [data-testid="row-sign-for"]').trigger("click");
    await settle();
    expect(wrapper.get('[data-testid="row-2"]').find('[data-testid="pending-mark"]').text()).toContain("待同步");
    expect(wrapper.get('[data-testid="connection-state"]').text()).toBe("离线");
    wrapper.unmount();
  });

  it("shows a new arrival without refresh, highlighted until opened", async () => {
    install();
    const wrapper = await mountApp();
    const id = backend.arrive("新来信：商铺噪音");
    await settle();
    const row = wrapper.get(`[data-testid="row-${id}"]`);
    expect(row.find('[data-testid="new-mark"]').exists()).toBe(true);
    await row.trigger("click");
    await settle();
    expect(calls.some((c) => c.cmd === "mark_seen" && c.args.id === id)).toBe(true);
    expect(wrapper.get(`[data-testid="row-${id}"]`).find('[data-testid="new-mark"]').exists()).toBe(false);
    wrapper.unmount();
  });

  it("moves with ↑/↓, opens with Enter and focuses the search with /", async () => {
    install();
    const wrapper = await mountApp();
    const key = async (k: string) => {
      window.dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true }));
      await settle();
    };
    await key("ArrowDown");
    await key("ArrowDown");
    await key("ArrowUp");
    await key("Enter");
    const rows = wrapper.findAll("[data-row]");
    const second = rows[1]!.attributes("data-testid")!.replace("row-", "");
    expect(wrapper.get('[data-testid="letter-detail"]').attributes("data-letter")).toBe(second);
    await key("/");
    expect(document.activeElement?.closest('[data-testid="inbox-search"]')).not.toBeNull();
    wrapper.unmount();
  });

  it("validates an action's form before it is queued, with translated messages", async () => {
    install();
    const wrapper = await mountApp();
    await wrapper.get('[data-testid="row-4"]').trigger("click");
    await settle();
    await wrapper.get('[data-testid="action-give_first_feedback"]').trigger("click");
    await settle();
    const dialog = () => document.querySelector('[data-testid="action-dialog"]') as HTMLElement;
    (dialog().querySelector('[data-testid="action-submit"]') as HTMLButtonElement).click();
    await settle();
    expect(dialog().textContent).toContain("此项必填");
    expect(calls.some((c) => c.cmd === "take_action")).toBe(false);
    wrapper.unmount();
  });

  it("filters by state and by text", async () => {
    install();
    const wrapper = await mountApp();
    await wrapper.get('[data-testid="tab-dispatched"]').trigger("click");
    await settle();
    const queries = calls.filter((c) => c.cmd === "inbox").map((c) => c.args.query as { states: string[] });
    expect(queries.at(-1)?.states).toEqual(["dispatched"]);
    for (const row of wrapper.findAll("[data-row]")) expect(row.attributes("data-state")).toBe("dispatched");
    wrapper.unmount();
  });
});

describe("the letter", () => {
  it("shows a hostile letter as literal text and runs nothing", async () => {
    install();
    const payload = "<img src=x onerror=alert(1)><script>window.__pwned = true</script>";
    backend.letters.get(4)!.record.body = payload;
    backend.letters.get(4)!.record.subject = payload;
    const wrapper = await mountApp();
    await wrapper.get('[data-testid="row-4"]').trigger("click");
    await settle();
    const body = wrapper.get('[data-testid="letter-body"]');
    expect(body.text()).toBe(payload);
    expect(body.element.querySelector("img, script")).toBeNull();
    expect(wrapper.get('[data-testid="detail-subject"]').text()).toBe(payload);
    expect(document.querySelector('img[src="x"]')).toBeNull();
    expect((window as unknown as { __pwned?: boolean }).__pwned).toBeUndefined();
    wrapper.unmount();
  });

  it("offers only the available actions, every clock with its due time, and the history in Chinese", async () => {
    install();
    const wrapper = await mountApp();
    await wrapper.get('[data-testid="row-1"]').trigger("click");
    await settle();
    const buttons = wrapper.findAll('[data-testid^="action-"]').map((b) => b.attributes("data-testid"));
    expect(buttons).toEqual(["action-sign_for", "action-return_letter"]);
    expect(wrapper.findAll('[data-testid="clocks"] tbody tr').length).toBe(4);
    expect(wrapper.get('[data-testid="clocks"]').text()).toContain("2026-11-28");
    expect(wrapper.get('[data-testid="timeline"]').text()).toContain("福田分局派发至");
    wrapper.unmount();
  });

  it("reveals the writer only on request", async () => {
    install();
    const wrapper = await mountApp();
    await wrapper.get('[data-testid="row-1"]').trigger("click");
    await settle();
    expect(wrapper.get('[data-testid="writer-name"]').text()).toBe("张**");
    expect(calls.some((c) => c.cmd === "reveal_writer")).toBe(false);
    await wrapper.get('[data-testid="reveal-writer"]').trigger("click");
    await settle();
    expect(wrapper.get('[data-testid="writer-name"]').text()).toBe("张三丰");
    wrapper.unmount();
  });
});

describe("an empty inbox", () => {
  it("during the first sync says so instead of blaming the filters", async () => {
    install({ letters: 0, neverSynced: true });
    const wrapper = await mountApp();
    expect(wrapper.get('[data-testid="inbox-first-sync"]').text()).toContain("正在首次同步");
    expect(wrapper.find('[data-testid="inbox-empty"]').exists()).toBe(false);
    wrapper.unmount();
  });

  it("after sync without filters says there are none, with filters blames them", async () => {
    install({ letters: 0 });
    const wrapper = await mountApp();
    expect(wrapper.get('[data-testid="inbox-empty"]').text()).toContain("暂无来信");
    expect(wrapper.get('[data-testid="inbox-empty"]').text()).not.toContain("筛选");
    wrapper.unmount();
  });
});

describe("an empty list says a new letter rings only where letters arrive", () => {
  it("the inbox and 待派发 do; 延期待审批 and 待回访 do not", async () => {
    install({ letters: 0, user: "futianfj.desk" });
    const wrapper = await mountApp();
    await wrapper.get('[data-testid="nav-desk"]').trigger("click");
    await settle();
    expect(wrapper.get('[data-testid="inbox-empty-hint"]').text()).toContain("响铃");
    for (const tab of ["desk-extensions", "desk-visits"]) {
      await wrapper.get(`[data-testid="${tab}"]`).trigger("click");
      await settle();
      expect(wrapper.find('[data-testid="inbox-empty"]').exists()).toBe(true);
      expect(wrapper.find('[data-testid="inbox-empty-hint"]').exists()).toBe(false);
    }
    wrapper.unmount();
  });
});

describe("a clicked OS notification", () => {
  it("opens the letter it announced", async () => {
    install();
    const wrapper = await mountApp();
    await wrapper.get('[data-testid="nav-settings"]').trigger("click");
    await settle();
    await emit("notification-opened", { kind: "arrival", letterId: 3 });
    await settle();
    expect(wrapper.find('[data-testid="inbox-screen"]').exists()).toBe(true);
    expect(wrapper.find('[data-testid="row-3"]').classes().join(" ")).toMatch(/selected|active/);
    wrapper.unmount();
  });

  it("goes where each kind is handled", async () => {
    const { noticeTarget } = await import("./state");
    expect(noticeTarget({ kind: "arrival", letterId: 1 }, ["officer"])).toEqual({ view: "inbox", letter: 1 });
    expect(noticeTarget({ kind: "arrival", letterId: 1 }, ["dispatcher"])).toEqual({ view: "desk", letter: 1 });
    expect(noticeTarget({ kind: "forms_to_sign", letterId: 2 }, ["chief"])).toEqual({ view: "chief", letter: 2 });
    expect(noticeTarget({ kind: "escalation", letterId: 5 }, ["dispatcher"])).toEqual({ view: "board", letter: null });
  });
});

describe("立即同步", () => {
  it("shows progress, then what the exchange did", async () => {
    install();
    const wrapper = await mountApp();
    await wrapper.get('[data-testid="sync-now"]').trigger("click");
    await settle();
    expect(document.body.textContent).toContain("同步完成");
    expect(calls.some((c) => c.cmd === "sync_now")).toBe(true);
    wrapper.unmount();
  });
});

describe("login", () => {
  async function attempt(wrapper: VueWrapper, server: string, user: string, password: string) {
    const change = wrapper.find('[data-testid="login-change-server"]');
    if (change.exists()) {
      await change.trigger("click");
      await settle();
    }
    await wrapper.get('[data-testid="login-server"]').setValue(server);
    await wrapper.get('[data-testid="login-user"]').setValue(user);
    await wrapper.get('[data-testid="login-password"]').setValue(password);
    await wrapper.get("form").trigger("submit");
    await settle();
  }

  it("translates each failure and signs in", async () => {
    install({ user: null });
    const wrapper = await mountApp();
    await attempt(wrapper, "jsjb.local", "futian.liu", "x");
    expect(wrapper.get('[data-testid="login-error"]').text()).toContain("服务器地址格式不正确");
    await attempt(wrapper, "http://127.0.0.1:1", "futian.liu", "wrong");
    expect(wrapper.get('[data-testid="login-error"]').text()).toBe("用户名或密码不正确。");
    await attempt(wrapper, "http://127.0.0.1:1", "futian.liu", "locked");
    expect(wrapper.get('[data-testid="login-error"]').text()).toContain("14 分钟");
    await attempt(wrapper, "http://unreachable.example", "futian.liu", "jsjb-demo-2026");
    expect(wrapper.get('[data-testid="login-error"]').text()).toContain("无法连接服务器");
    await attempt(wrapper, "http://127.0.0.1:1", "futian.liu", "jsjb-demo-2026");
    expect(wrapper.find('[data-testid="inbox-screen"]').exists()).toBe(true);
    expect(wrapper.get('[data-testid="current-user"]').text()).toContain("刘瑞峰");
    wrapper.unmount();
  });

  it("shows the server from the app's settings, not the WebView's storage, and warns before another", async () => {
    localStorage.setItem("jsjb.lastServer", "http://stale.example");
    install({ user: null });
    const wrapper = await mountApp();
    expect(wrapper.get('[data-testid="login-server-known"]').text()).toBe("http://127.0.0.1:8080");
    expect(wrapper.find('[data-testid="login-server"]').exists()).toBe(false);
    await wrapper.get('[data-testid="login-change-server"]').trigger("click");
    await settle();
    expect(wrapper.find('[data-testid="login-new-server-warning"]').exists()).toBe(false);
    await wrapper.get('[data-testid="login-server"]').setValue("http://10.1.2.3:8080");
    await settle();
    expect(wrapper.get('[data-testid="login-new-server-warning"]').text()).toContain("管理员");
    wrapper.unmount();
    localStorage.removeItem("jsjb.lastServer");
  });

  it("changes the server only by signing out from 设置", async () => {
    install();
    const wrapper = await mountApp();
    await wrapper.get('[data-testid="nav-settings"]').trigger("click");
    await settle();
    expect(wrapper.get('[data-testid="settings-server"]').text()).toBe("http://127.0.0.1:8080");
    expect(wrapper.find('[data-testid="settings-server"] input').exists()).toBe(false);
    await wrapper.get('[data-testid="settings-change-server"]').trigger("click");
    await settle();
    const confirm = document.body.querySelector<HTMLButtonElement>(".n-popconfirm__action .n-button--primary-type");
    expect(confirm).not.toBeNull();
    confirm?.click();
    await settle();
    expect(wrapper.find('[data-testid="login-screen"]').exists()).toBe(true);
    // Opened for a new address, with the warning once it differs.
    await wrapper.get('[data-testid="login-server"]').setValue("http://10.1.2.3:8080");
    await settle();
    expect(wrapper.find('[data-testid="login-new-server-warning"]').exists()).toBe(true);
    wrapper.unmount();
  });
});

describe("notices about the user's own account", () => {
  const notices = [
    { id: 3, kind: "key_registered", at: "2026-11-28T01:00:00Z", by: 4, key_id: 9, fingerprint: "a1b2c3d4e5f60718", detail: "" },
    { id: 4, kind: "key_activated", at: "2026-11-28T02:30:00Z", by: 1, key_id: 9, fingerprint: "a1b2c3d4e5f60718", detail: "" },
    { id: 7, kind: "password_reset", at: "2026-11-28T03:00:00Z", by: 1, key_id: null, fingerprint: null, detail: "" },
  ] as const;

  it("are shown after sign-in until acknowledged, in China time", async () => {
    install({ notices: notices.map((n) => ({ ...n })) });
    await mountApp();
    const dialog = document.querySelector('[data-testid="account-notices"]') as HTMLElement;
    expect(dialog).not.toBeNull();
    const lines = [...dialog.querySelectorAll('[data-testid="account-notice"]')].map((e) => e.textContent ?? "");
    expect(lines).toHaveLength(3);
    expect(lines[0]).toContain("您的账号于 2026-11-28 09:00 登记了新的签名密钥");
    expect(lines[0]).toContain("a1b2 c3d4 e5f6 0718");
    expect(lines[1]).toContain("您的签名密钥于 2026-11-28 10:30 被激活");
    expect(lines[2]).toContain("您的密码于 2026-11-28 11:00 被管理员重置");
    (document.querySelector('[data-testid="account-notices-ack"]') as HTMLElement).click();
    await settle();
    expect(calls.find((c) => c.cmd === "acknowledge_notices")?.args).toEqual({ upTo: 7 });
    expect(document.querySelector('[data-testid="account-notices"]')).toBeNull();
  });

  it("show nothing when there is nothing new, or when offline", async () => {
    install();
    await mountApp();
    expect(calls.some((c) => c.cmd === "account_notices")).toBe(true);
    expect(document.querySelector('[data-testid="account-notices"]')).toBeNull();
    clearMocks();
    document.body.innerHTML = "";
    resetAppState();
    install({ offline: true, notices: notices.map((n) => ({ ...n })) });
    await mountApp();
    expect(document.querySelector('[data-testid="account-notices"]')).toBeNull();
  });
});

describe("witnessed audit", () => {
  it("shows a banner with the check to run when the server's audit chain is shorter than the kept head", async () => {
    install();
    const wrapper = await mountApp();
    expect(wrapper.find('[data-testid="audit-alarm"]').exists()).toBe(false);
    const kept = `42:${"ab".repeat(32)}`;
    await emit("audit-mismatch", { alarm: { kind: "truncated", kept, server_seq: 40 } });
    await settle();
    const banner = wrapper.get('[data-testid="audit-alarm"]');
    expect(banner.text()).toContain("服务器审计链与本机记录不一致");
    expect(banner.text()).toContain("第 42 条");
    expect(wrapper.get('[data-testid="audit-command"]').text()).toBe(`jsjb-server admin audit-verify --head ${kept}`);
    wrapper.unmount();
  });
});

describe("the admin console and one's own password", () => {
  it("shows 管理 only to admins, and an admin-only account starts there", async () => {
    install();
    const officer = await mountApp();
    expect(officer.find('[data-testid="nav-admin"]').exists()).toBe(false);
    officer.unmount();
    document.body.innerHTML = "";
    resetAppState();

    install({ user: "admin" });
    const admin = await mountApp();
    expect(admin.get('[data-testid="nav-admin"]').text()).toContain("管理");
    expect(admin.get('[data-testid="nav-admin"]').attributes("aria-current")).toBe("page");
    // The console is loaded on demand: wait for it.
    for (let i = 0; i < 50 && !admin.find('[data-testid="admin-screen"]').exists(); i++) {
      await new Promise((r) => setTimeout(r, 20));
      await settle();
    }
    expect(admin.find('[data-testid="admin-screen"]').exists()).toBe(true);
    expect(calls.some((c) => c.cmd === "admin_keys")).toBe(true);
    admin.unmount();
  });

  it("asks for a new password before anything else when an admin set it", async () => {
    install({ mustChangePassword: true });
    const wrapper = await mountApp();
    const dialog = () => document.body.querySelector('[data-testid="change-password-required"]');
    expect(dialog()?.textContent).toContain("管理员设置");
    const fill = async (sel: string, value: string) => {
      const input = document.body.querySelector(`[data-testid="${sel}"] input`) as HTMLInputElement;
      input.value = value;
      input.dispatchEvent(new Event("input"));
      await settle();
    };
    await fill("change-password-current", "jsjb-demo-2026");
    await fill("change-password-new", "my-own-password-7");
    await fill("change-password-again", "my-own-password-7");
    (document.body.querySelector('[data-testid="change-password-submit"]') as HTMLButtonElement).click();
    await settle();
    expect(calls.some((c) => c.cmd === "change_own_password")).toBe(true);
    expect(dialog()).toBeNull();
    wrapper.unmount();
  });
});

describe("the sync status", () => {
  it("an event newer than the sign-in snapshot wins: a fast first sync never leaves 同步中 showing", async () => {
    backend = createMockBackend({ letters: 5, nowMs: Date.parse("2026-11-28T04:00:00Z") });
    mockIPC(
      async (cmd, args) => {
        const answer = backend.handle(cmd, args as Record<string, unknown>);
        if (cmd !== "sync_status") return answer;
        // The first sync finishes (and says so) while the snapshot is on its way back.
        const done = { ...(answer as object), state: { kind: "online" }, live: true };
        await emit("sync-status", done);
        return { ...(answer as object), state: { kind: "syncing" }, live: false };
      },
      { shouldMockEvents: true },
    );
    const wrapper = await mountApp();
    expect(wrapper.get('[data-testid="connection-state"]').attributes("data-state")).toBe("online");
    wrapper.unmount();
  });

  it("likewise the letters waiting: an arrival announced during sign-in is not undone by the older snapshot", async () => {
    backend = createMockBackend({ letters: 5, nowMs: Date.parse("2026-11-28T04:00:00Z") });
    mockIPC(
      async (cmd, args) => {
        const answer = backend.handle(cmd, args as Record<string, unknown>);
        if (cmd !== "waiting_status") return answer;
        await emit("waiting-changed", { ids: [4242], soundAvailable: true });
        return { ids: [], soundAvailable: true };
      },
      { shouldMockEvents: true },
    );
    const wrapper = await mountApp();
    expect(appState.waiting).toEqual([4242]);
    wrapper.unmount();
  });
});

describe("the wall board (各单位实时态势)", () => {
  it("shows the desk's own unit and each station below, a breach marked by colour and ▲, and the escalated letters", async () => {
    install({ user: "futianfj.desk" });
    const wrapper = await mountApp();
    await wrapper.get('[data-testid="nav-board"]').trigger("click");
    await settle();
    const board = wrapper.get('[data-testid="wall-board"]');
    expect(board.text()).toContain("各单位实时态势");
    // The branch (2) first, then its four stations.
    const rows = wrapper.findAll('[data-testid^="board-row-"]').map((r) => r.attributes("data-testid"));
    expect(rows).toEqual(["board-row-2", "board-row-5", "board-row-6", "board-row-7", "board-row-8"]);
    const reply = backend.handle("wall_board", {}) as import("../ipc").WallBoard;
    const late = reply.rows.find((r) => r.load.contact_overdue > 0 || r.load.sign_for_overdue > 0);
    expect(late, "the mock city has a late unit").toBeDefined();
    if (late) {
      const row = wrapper.get(`[data-testid="board-row-${late.unit_id}"]`);
      expect(row.classes()).toContain("late");
      expect(row.text()).toContain("▲");
    }
    // A breach below is escalated: the board lists the letter until it is opened; one
    // whose clocks are met by now (letter 1, fresh) drops off the list.
    const breached = [...backend.letters.keys()].find((id) => {
      const view = backend.handle("letter_detail", { id }) as import("../ipc").LetterView;
      return view.detail.clocks.contact.state === "breached" || view.detail.clocks.sign_for?.state === "breached";
    });
    expect(breached, "the mock city has a breached letter").toBeDefined();
    await emit("letters-escalated", { ids: [1, breached!] });
    await settle();
    const banner = wrapper.get('[data-testid="board-escalated"]');
    expect(banner.text()).toContain("下级单位签收或联系来信人已超时（1 件）");
    expect(banner.findAll("button")).toHaveLength(1);
    // Full screen for the duty room: the app's chrome steps aside; Esc brings it back.
    await wrapper.get('[data-testid="board-full-screen"]').trigger("click");
    await settle();
    expect(wrapper.find('[data-testid="nav-board"]').exists()).toBe(false);
    expect(wrapper.find('[data-testid="status-bar"]').exists()).toBe(false);
    window.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape" }));
    await settle();
    expect(wrapper.find('[data-testid="nav-board"]').exists()).toBe(true);
    await wrapper.get('[data-testid="board-escalated"]').get("button").trigger("click");
    await settle();
    expect(wrapper.find('[data-testid="inbox-screen"]').exists()).toBe(true);
    wrapper.unmount();
  });
});

describe("the deciders' worklists", () => {
  const inboxQueries = () => calls.filter((c) => c.cmd === "inbox").map((c) => c.args.query as Record<string, unknown>);

  it("a desk's tabs ask the cache for 待派发, 延期待审批 and 待回访", async () => {
    install({ user: "futianfj.desk" });
    const wrapper = await mountApp();
    expect(wrapper.find('[data-testid="desk-screen"]').exists()).toBe(true);
    // 待派发: received here, or dispatched here and not yet forwarded.
    expect(inboxQueries().some((q) => JSON.stringify(q.states) === JSON.stringify(["received", "dispatched"]) && q.unit === 2)).toBe(true);
    calls.length = 0;
    await wrapper.get('[data-testid="desk-extensions"] input').trigger("change");
    await settle();
    expect(inboxQueries().some((q) => q.extension_pending === true)).toBe(true);
    calls.length = 0;
    await wrapper.get('[data-testid="desk-visits"] input').trigger("change");
    await settle();
    expect(inboxQueries().some((q) => q.visit_due === true)).toBe(true);
    expect(wrapper.text()).toContain("待回访");
    wrapper.unmount();
  });

  it("a supervisor starts on the cases assigned to them", async () => {
    install({ user: "futianfj.dingban" });
    const wrapper = await mountApp();
    expect(wrapper.find('[data-testid="supervisor-screen"]').exists()).toBe(true);
    expect(inboxQueries().some((q) => q.supervisor === 12)).toBe(true);
    calls.length = 0;
    await wrapper.get('[data-testid="supervisor-extended"] input').trigger("change");
    await settle();
    expect(inboxQueries().some((q) => q.extended === true && q.supervisor === null)).toBe(true);
    wrapper.unmount();
  });

  it("a desk types in a phone letter, and a retry after a failure is the same letter", async () => {
    install({ user: "futianfj.desk" });
    const wrapper = await mountApp();
    await wrapper.get('[data-testid="phone-letter-open"]').trigger("click");
    await settle();
    const q = (id: string) => document.body.querySelector(`[data-testid="${id}"]`);
    const fill = async (id: string, value: string) => {
      const input = q(id)?.querySelector("input, textarea") as HTMLInputElement;
      input.value = value;
      input.dispatchEvent(new Event("input"));
      await settle();
    };
    // Nothing filled: every required field says so, and nothing is sent.
    (q("phone-letter-submit") as HTMLButtonElement).click();
    await settle();
    expect(calls.some((c) => c.cmd === "type_in_letter")).toBe(false);
    expect(q("phone-letter-dialog")?.textContent).toContain("必填");
    await fill("phone-writer-name", "王女士");
    await fill("phone-writer-phone", "0755-83312345");
    await fill("phone-subject", "来电反映：楼下烧烤店深夜噪音");
    await fill("phone-body", "每晚十一点后仍有客人喧哗，影响休息。");
    // The category: pick from the select's options.
    (q("phone-category")?.querySelector(".n-base-selection") as HTMLElement).click();
    await settle();
    (document.body.querySelector(".n-base-select-option") as HTMLElement).click();
    await settle();
    // Only the required fields carry the mark (classes and attachments are optional).
    const marked = [...(q("phone-letter-dialog")?.querySelectorAll(".n-form-item") ?? [])].filter((i) => i.querySelector(".n-form-item-label__asterisk"));
    expect(marked.length).toBe(5);
    // The writer's photo: picked in Rust's dialog, listed here by name and size.
    (q("phone-add-files") as HTMLButtonElement).click();
    await settle();
    expect(q("phone-files")?.textContent).toContain("现场照片.jpg");
    backend.setOffline(true);
    (q("phone-letter-submit") as HTMLButtonElement).click();
    await settle();
    expect(q("phone-letter-error")?.textContent).not.toBe("");
    backend.setOffline(false);
    (q("phone-letter-submit") as HTMLButtonElement).click();
    await settle();
    const sent = calls.filter((c) => c.cmd === "type_in_letter");
    expect(sent.length).toBe(2);
    expect(sent[0]?.args.idempotencyKey).toBe(sent[1]?.args.idempotencyKey);
    expect(sent[1]?.args.input).toMatchObject({ writer_name: "王女士", writer_phone: "0755-83312345", subject: "来电反映：楼下烧烤店深夜噪音", problem_tags: [] });
    // The retry sends the same held file (a token, never a path).
    expect((sent[1]?.args.files as string[]).length).toBe(1);
    expect(sent[1]?.args.files).toEqual(sent[0]?.args.files);
    // The tracking code to read back to the caller.
    expect(document.body.textContent).toMatch(/已录入，查询编号 \S+/);
    wrapper.unmount();
  });
});
