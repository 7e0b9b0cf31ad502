// Every screen of the real app against the real server, at 1366×768 (a common station
// monitor) and at 1920×1080, saved into tests/.artifacts/ to be looked at: login (and
// its translated errors), the desk's 待派发 queue and dispatch dialog, the chief's 待签批
// queue with the form, the wall board (also full screen), the supervisor's cases, and the officer's letters, statistics,
// handover, settings and the English UI. Signs in through the login form each time.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { launchApp } from "./harness.mjs";
import { appUi } from "./ui.mjs";
import { DEMO_PASSWORD, startServer } from "./server.mjs";

const SIZES = [
  { name: "1366x768", width: 1366, height: 768 },
  { name: "1920x1080", width: 1920, height: 1080 },
];

let server;
let desk;

before(async () => {
  server = await startServer({ env: { JSJB_LOCKOUT_THRESHOLD: "2", JSJB_LOGIN_IP_LIMIT: "1000" } });
  desk = await server.api("futianfj.desk");
  const station = desk.unitId("福田派出所");
  // Something in each queue: a letter waiting at the desk, one waiting for the chief.
  await desk.postLetter({ subject: "来电反映：小区地下车库电动车违规充电", body: "市民来电反映小区地下车库有人私拉电线给电动车充电，存在火灾隐患。", category: "help" });
  const officer = await server.api("futian.liu");
  const { id } = await desk.postLetter({ subject: "来电反映：夜市油烟扰民", body: "夜市摊位油烟直排居民楼。", category: "complaint" });
  await desk.act(id, { action: "dispatch", to: station, note: "" });
  await officer.act(id, { action: "sign_for" });
  await officer.act(id, { action: "record_contact", method: "phone", outcome: "reached", contacted_at: new Date().toISOString(), note: "已电话联系" });
  await officer.act(id, { action: "give_first_feedback", text: "已收到，正在处理。" });
  await officer.act(id, { action: "submit_feedback_form", summary: "会同城管现场处置，摊位已加装油烟净化器。", result: "问题已解决", reply: "您反映的问题已处理。" });
});

after(async () => {
  await server?.dispose();
});

for (const size of SIZES) {
  describe(`every screen at ${size.name}`, () => {
    let app;
    let browser;
    let dataDir;

    before(async () => {
      dataDir = mkdtempSync(join(tmpdir(), "jsjb-e2e-screens-"));
      app = await launchApp({
        screen: `${size.width}x${size.height}x24`,
        env: { JSJB_DATA_DIR: dataDir, JSJB_KEYRING: "file" },
      });
      browser = app.browser;
      ui = appUi(app);
      await browser.setWindowSize(size.width, size.height);
      await $("login-screen").waitForDisplayed({ timeout: 30_000 });
      if ((await browser.execute(() => document.documentElement.lang)) !== "zh-CN") await $("language-zh-CN").click();
    });

    after(async () => {
      await app?.close();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    });

    const $ = (testid) => browser.$(`[data-testid="${testid}"]`);
    const waitFor = (what, fn, timeout = 20_000) =>
      browser.waitUntil(fn, { timeout, interval: 200, timeoutMsg: `timed out waiting for ${what}` });
    const shot = async (name) => {
      await browser.pause(350); // transitions
      await app.screenshot(`${name}-${size.name}`);
    };

    let ui;
    const press = (element) => ui.press(element);
    const login = (username, password = DEMO_PASSWORD, url = server.url) => ui.login(url, username, password);
    const signIn = (username) => ui.signIn(server.url, username, { shotName: `failed-sign-in-${size.name}` });
    const signOut = () => ui.signOut();

    async function loginError(username, password, url) {
      const attempts = async () => Number((await browser.execute(() => document.querySelector('[data-testid="login-screen"]')?.getAttribute("data-attempts"))) ?? 0);
      const before = await attempts();
      await login(username, password, url);
      await waitFor("the attempt to finish", async () => (await attempts()) > before);
      const code = await $("login-error").getAttribute("data-code");
      const text = await browser.execute(() => document.querySelector('[data-testid="login-error"]').innerText);
      return { code, text };
    }

    it("login, with translated errors", async () => {
      await shot("login");
      if (size.width !== 1366) return;
      let e = await loginError("futian.liu", "x", "jsjb.local");
      assert.equal(e.code, "invalid_url");
      e = await loginError("futian.liu", "wrong", server.url);
      assert.equal(e.code, "invalid_credentials");
      assert.match(e.text, /用户名或密码不正确/);
      e = await loginError("futian.liu", DEMO_PASSWORD, "http://127.0.0.1:9");
      assert.equal(e.code, "unreachable");
      await loginError("huafu.zhu", "wrong", server.url);
      e = await loginError("huafu.zhu", "wrong", server.url);
      if (e.code !== "account_locked") e = await loginError("huafu.zhu", "wrong", server.url);
      assert.equal(e.code, "account_locked");
      assert.match(e.text, /\d+ 分钟后再试/);
      await shot("login-error");
    });

    it("the desk's 待派发 queue and the dispatch dialog", async () => {
      await signIn("futianfj.desk");
      await $("inbox-screen").waitForDisplayed({ timeout: 20_000 });
      await waitFor("a letter to dispatch", async () => (await browser.$$("[data-row]")).length > 0);
      await shot("desk");
      await press(browser.$("[data-row] [data-testid='row-quick']"));
      await browser.$('[data-testid="action-dialog"][data-kind="dispatch"]').waitForDisplayed({ timeout: 20_000 });
      await shot("desk-dispatch-dialog");
      await press($("action-cancel"));
      await browser.$('[data-testid="action-dialog"]').waitForDisplayed({ reverse: true, timeout: 10_000 });
      // The deciders' worklists beside the queue (filters of the cache).
      for (const tab of ["extensions", "visits"]) {
        await press($(`desk-${tab}`));
        await waitFor(`the ${tab} list`, async () => (await browser.$$("[data-row]")).length > 0 || (await $("inbox-empty").isExisting()));
        await shot(`desk-${tab}`);
      }
      // 各单位实时态势, in the window and full screen (a duty-room display).
      await press($("nav-board"));
      await $("wall-board").waitForDisplayed({ timeout: 20_000 });
      await waitFor("the board's rows", () => browser.$('[data-testid^="board-row-"]').isExisting());
      await shot("board");
      await press($("board-full-screen"));
      await browser.pause(600);
      await shot("board-full-screen");
      await press($("board-full-screen"));
      // The branch's statistics: the server's report with the ranking of its stations.
      await press($("nav-stats"));
      await $("stats-screen").waitForDisplayed({ timeout: 20_000 });
      await waitFor("the ranking", () => $("stats-ranking").isExisting(), 90_000);
      assert.equal(await $("stats-source").getAttribute("data-source"), "server");
      await browser.pause(800); // chart animation
      await shot("desk-stats");
      await $("stats-ranking").scrollIntoView();
      await browser.pause(400);
      await shot("desk-stats-ranking");
      await $("stats-hotspots").scrollIntoView();
      await browser.pause(400);
      await shot("desk-stats-hotspots");
      await signOut();
    });

    it("the chief's 待签批 queue with the form, read-only", async () => {
      await signIn("futian.chief");
      await waitFor("a form to sign", async () => (await browser.$$("[data-row]")).length > 0);
      await press(browser.$("[data-row]"));
      await $("signoff-panel").waitForDisplayed({ timeout: 20_000 });
      // At every size: the filters stay inside the list pane, and the signature pad and
      // the sign button are in view without scrolling (the form scrolls above them).
      const layout = await browser.execute(() => {
        const box = (el) => el?.getBoundingClientRect();
        const left = box(document.querySelector(".left"));
        const filters = [...document.querySelectorAll(".filters > *")].map(box);
        const pad = box(document.querySelector('[data-testid="signature-canvas"]'));
        const sign = box(document.querySelector('[data-testid="signoff-sign"]'));
        return {
          filtersInside: filters.every((f) => f.right <= left.right + 1),
          padInView: pad.top >= 0 && pad.bottom <= window.innerHeight && pad.right <= window.innerWidth,
          signInView: sign.top >= 0 && sign.bottom <= window.innerHeight,
        };
      });
      assert.deepEqual(layout, { filtersInside: true, padInView: true, signInView: true }, `at ${size.name}`);
      await shot("chief");
      await signOut();
    });

    it("the supervisor's cases: assigned, overdue and extended", async () => {
      await signIn("futianfj.dingban");
      await $("supervisor-screen").waitForDisplayed({ timeout: 20_000 });
      await waitFor("the list", async () => (await browser.$$("[data-row]")).length > 0 || (await $("inbox-empty").isExisting()));
      await shot("supervisor-mine");
      for (const tab of ["overdue", "extended"]) {
        await press($(`supervisor-${tab}`));
        await waitFor(`the ${tab} list`, async () => (await browser.$$("[data-row]")).length > 0 || (await $("inbox-empty").isExisting()));
        await shot(`supervisor-${tab}`);
      }
      await signOut();
    });

    it("the officer's letters, statistics, handover, settings and English", async () => {
      await signIn("futian.liu");
      await waitFor("letters", async () => (await browser.$$("[data-row]")).length > 0);
      await shot("inbox");
      await press(browser.$("[data-row]"));
      await $("letter-detail").waitForDisplayed({ timeout: 20_000 });
      await $("detail-actions").waitForDisplayed({ timeout: 20_000 });
      await shot("letter");

      await $("nav-stats").click();
      await $("stats-screen").waitForDisplayed({ timeout: 20_000 });
      await waitFor("the figures", () => $("rate-response").isExisting(), 90_000).catch(async (error) => {
        await app.screenshot(`failed-stats-${size.name}`);
        throw error;
      });
      // The figures are the server's report, said so on the screen, not the estimate.
      assert.equal(await $("stats-source").getAttribute("data-source"), "server");
      assert.equal(await browser.$('[data-testid="stats-offline"]').isExisting(), false);
      await browser.pause(800); // chart animation
      await shot("stats");

      await $("nav-handover").click();
      await $("handover-screen").waitForDisplayed({ timeout: 20_000 });
      await waitFor("the lists", async () => !(await browser.$(".handover .n-spin").isExisting()), 30_000);
      await shot("handover");

      await $("nav-settings").click();
      await $("settings-screen").waitForDisplayed({ timeout: 20_000 });
      await $("test-chime").waitForClickable({ timeout: 10_000 });
      await $("test-chime").click();
      await $("chime-result").waitForDisplayed({ timeout: 10_000 });
      // The deadlines are counted with the server's rules, and the screen says which.
      await $("rules-version").waitForDisplayed({ timeout: 10_000 });
      assert.match(await $("rules-version").getText(), /服务器下发的时限规则.*[0-9a-f]{16}/);
      await shot("settings");

      await $("nav-inbox").click();
      await $("language-en").click();
      await waitFor("English", async () => (await browser.execute(() => document.documentElement.lang)) === "en");
      await press(browser.$("[data-row]"));
      await $("letter-detail").waitForDisplayed({ timeout: 20_000 });
      await shot("inbox-en");
      await $("language-zh-CN").click();
      await waitFor("Chinese again", async () => (await browser.execute(() => document.documentElement.lang)) === "zh-CN");
      await browser.pause(300); // let the WebView store the choice before the app is closed
    });
  });
}
