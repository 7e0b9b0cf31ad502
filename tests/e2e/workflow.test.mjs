// The officer's day on the real app against a real server (jsjb-server demo): sign-in,
// a letter arriving with its colour and countdown, 签收 from the inbox, the life cycle up
// to 待签批, an extension, 退单 and re-dispatch, an action taken offline and synced when
// the server is back, and a letter whose text is an HTML/script payload.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { launchSignedIn } from "./harness.mjs";
import { appUi } from "./ui.mjs";
import { DEMO_PASSWORD, startServer } from "./server.mjs";

const OFFICER = "futian.liu";

describe("an officer's workflow against the real server", () => {
  let server;
  let desk;
  let app;
  let browser;
  let signedIn;
  let station;

  before(async () => {
    server = await startServer();
    desk = await server.api("futianfj.desk");
    station = desk.unitId("福田派出所");
    signedIn = await launchSignedIn(server.url, OFFICER, DEMO_PASSWORD);
    ({ app, browser } = signedIn);
    ui = appUi(app);
  });

  after(async () => {
    await signedIn?.close();
    await server?.dispose();
  });

  let ui;
  const $ = (testid) => ui.$(testid);
  const textOf = (testid) => ui.textOf(testid);
  const row = (id) => ui.row(id);
  const waitFor = (what, fn, timeout) => ui.waitFor(what, fn, timeout);
  const clickWhenFree = (what, element) => ui.clickWhenFree(what, element);
  const openLetter = (id) => ui.openLetter(id);
  const act = (kind, fill) => ui.act(kind, fill);
  const type = (dialog, testid, text) => ui.type(dialog, testid, text);

  /** A letter typed in by the branch desk and dispatched to the officer's station. */
  async function arrive(subject, body = `${subject}。请尽快处理。`) {
    const { id } = await desk.postLetter({ subject, body });
    await desk.act(id, { action: "dispatch", to: station, note: "请核实处理" });
    await waitFor(`row ${id}`, () => row(id).isExisting(), 30_000);
    return id;
  }

  async function serverState(id) {
    return (await desk.letter(id)).state;
  }

  it("signs in by itself and shows the inbox", async () => {
    await $("inbox-screen").waitForDisplayed({ timeout: 30_000 });
    // Another suite may have left the WebView's remembered language on English.
    if ((await browser.execute(() => document.documentElement.lang)) !== "zh-CN") await clickWhenFree("中文", $("language-zh-CN"));
    await waitFor("the user's name", async () => (await textOf("current-user")).includes("刘瑞峰"), 30_000);
    // The first sync of the demo city, then the witnessed audit head: on a loaded 2-core
    // runner this has taken more than the default wait.
    await waitFor("online", async () => (await $("connection-state").getAttribute("data-state")) === "online", 60_000);
    await app.screenshot("inbox-1366x768");
  });

  let signed;
  it("shows a new letter without refresh, green, with its 签收 countdown, highlighted", async () => {
    signed = await arrive("福田路口夜间施工噪音扰民");
    const r = row(signed);
    assert.equal(await r.getAttribute("data-band"), "ok");
    assert.equal(await r.getAttribute("data-state"), "dispatched");
    const badge = await r.$('[data-testid="band-badge"]').getText();
    const m = badge.match(/^签收\s*剩 (\d+)分(\d+)秒$/);
    assert.ok(m, `badge reads ${badge}`);
    const left = Number(m[1]) * 60 + Number(m[2]);
    assert.ok(left > 8 * 60 && left <= 10 * 60, `${left} s left on a fresh 10-minute clock`);
    assert.ok(await r.$('[data-testid="new-mark"]').isExisting(), "a new arrival is highlighted");
    // The countdown ticks.
    const before = await r.$('[data-testid="countdown"]').getText();
    await browser.pause(2100);
    assert.notEqual(await r.$('[data-testid="countdown"]').getText(), before);
    await app.screenshot("inbox-arrival-1366x768");
  });

  it("signs for it in one click from the row", async () => {
    await clickWhenFree("the row's 签收", row(signed).$('[data-testid="row-sign-for"]'));
    await waitFor("handling", async () => (await row(signed).getAttribute("data-state")) === "handling");
    await waitFor("the server to agree", async () => (await serverState(signed)) === "handling");
    const letter = await desk.letter(signed);
    assert.equal(letter.handler_id, (await server.api(OFFICER)).me.user_id);
  });

  it("takes the letter through contact, first feedback and the feedback form to 待签批", async () => {
    await openLetter(signed);
    await app.screenshot("letter-1366x768");
    await act("record_contact");
    await waitFor("the contact in the history", async () => (await $("timeline").getText()).includes("联系来信人"));
    await act("give_first_feedback", (d) => type(d, "field-text", "已收到您的来信，民警正在核实处理。"));
    await waitFor("首次反馈 in the history", async () => (await $("timeline").getText()).includes("首次反馈"));
    // The writer is told of the receipt and of the first feedback (the demo's SMS goes to
    // the server's log), each beside its step in the history.
    await waitFor(
      "the writer told of the first feedback",
      async () => {
        const notices = await browser.execute(() =>
          [...document.querySelectorAll('[data-testid="writer-notice"]')].map((n) => n.innerText),
        );
        return notices.some((n) => n.includes("告知来信人：首次反馈（短信）") && n.includes("已发送") && n.includes("民警正在核实处理"))
          && notices.some((n) => n.includes("告知来信人：已受理（短信）"));
      },
      30_000,
    );
    await app.screenshot("letter-notices-1366x768");
    await act("submit_feedback_form", async (d) => {
      await type(d, "field-summary", "经现场核查，施工单位已调整作业时间。");
      await type(d, "field-result", "问题已解决");
      await type(d, "field-reply", "您反映的问题已处理，感谢您的监督。");
      await app.screenshot("action-dialog-1366x768");
    });
    await waitFor("待签批 on the server", async () => (await serverState(signed)) === "awaiting_approval", 30_000);
    await waitFor("待签批 in the app", async () => (await $("letter-detail").$('[data-testid="state-tag"]').getAttribute("data-state")) === "awaiting_approval");
  });

  it("requests an extension, which the desk approves", async () => {
    const id = await arrive("小区车辆乱停放堵塞消防通道");
    await clickWhenFree("the row's 签收", row(id).$('[data-testid="row-sign-for"]'));
    await waitFor("handling", async () => (await serverState(id)) === "handling");
    await openLetter(id);
    await act("request_extension", async (d) => {
      await type(d, "field-ext-reason", "需协调街道与物业共同整改");
      await type(d, "field-legal-basis", "《信访工作条例》第三十六条");
    });
    await waitFor("the request on the server", async () => (await desk.letter(id)).events.some((e) => e.payload.kind === "extension_requested"));
    await desk.act(id, { action: "decide_extension", approve: true, note: "同意" });
    await waitFor("the new closure deadline", async () => (await browser.$('[data-clock="closure"]').getText()).includes("原定"), 30_000);
  });

  it("returns a letter (退单) and gets it again when the desk re-dispatches it", async () => {
    const id = await arrive("反映南山区某商铺占道经营");
    await openLetter(id);
    await act("return_letter", async (d) => {
      await clickWhenFree("the reason", d.$('[data-testid="reason-not_our_jurisdiction"]'));
      await type(d, "field-note", "该地址属南山分局辖区。");
    });
    await waitFor("the desk to have it back", async () => (await serverState(id)) === "received", 30_000);
    await desk.act(id, { action: "dispatch", to: station, note: "经核实属福田辖区，请继续办理" });
    await waitFor("the row back as 待签收", async () => (await row(id).isExisting()) && (await row(id).getAttribute("data-state")) === "dispatched", 30_000);
  });

  it("queues 签收 while the server is down and syncs it when the server is back", async () => {
    const id = await arrive("电动车停放楼道充电存在隐患");
    await server.stop();
    try {
      await clickWhenFree("the row's 签收", row(id).$('[data-testid="row-sign-for"]'));
      await waitFor("the 待同步 mark", () => row(id).$('[data-testid="pending-mark"]').isExisting());
      await waitFor("offline", async () => (await $("connection-state").getAttribute("data-state")) === "offline", 60_000);
      await app.screenshot("offline-pending-1366x768");
    } finally {
      await server.start();
    }
    await clickWhenFree("立即同步", $("sync-now"));
    await waitFor("the queue to drain", async () => !(await row(id).$('[data-testid="pending-mark"]').isExisting()), 90_000);
    assert.equal(await serverState(id), "handling");
  });

  it("shows a letter whose text is HTML and script as literal text, and runs nothing", async () => {
    const payload = '<img src=x onerror=alert(1)><script>window.__pwned = 1</script>';
    const id = await arrive(payload, payload);
    const subject = await browser.execute((letter) => document.querySelector(`[data-testid="row-${letter}"] [data-testid="row-subject"]`).innerText, id);
    assert.equal(subject, payload);
    await openLetter(id);
    assert.equal(await textOf("letter-body"), payload);
    assert.equal(await textOf("detail-subject"), payload);
    const injected = await browser.execute(() => ({
      images: document.querySelectorAll('img[src="x"]').length,
      scripts: [...document.querySelectorAll("script")].filter((s) => s.textContent.includes("__pwned")).length,
      pwned: "__pwned" in window,
    }));
    assert.deepEqual(injected, { images: 0, scripts: 0, pwned: false });
    await assert.rejects(browser.getAlertText(), "no alert is open");
    await app.screenshot("hostile-text-1366x768");
  });
});
