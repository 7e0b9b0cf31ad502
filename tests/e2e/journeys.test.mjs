// Every role through its own screens, on one letter's life (issue 12's journeys): the
// real app against the real server, each user signing in through the login form, every
// step a click or a keystroke in the app — no step calls the server from the test.
//
//   chief (futian.chief)        enrols a signing key; two admins approve it in the console
//   city desk (shiju.li)        types in a phone letter, tags its problem class (重新分类),
//                               dispatches it to 福田分局
//   branch desk (futianfj.desk) forwards it from 待派发 to 福田派出所
//   station (futian.liu)        returns it (退单)
//   branch desk                 rules the return back (裁定)
//   station                     signs for it, contacts, gives first feedback, asks for an extension
//   branch desk                 decides the extension from 延期待审批, names a 盯办 officer
//   supervisor (futianfj.dingban) chases (催办) from 我的盯办; the station sees the badge
//   station                     submits the feedback form
//   admin                       revokes the chief's key (lost) with a reason in the console;
//                               the chief is told and cannot sign; a new key is approved
//   chief                       is alerted in 待签批, draws the signature with pointer
//                               actions, signs with the PIN: the case closes
//   branch desk                 records the return visit from 待回访; the wall board shows
//
// Each screen is saved at 1366×768 (tests/.artifacts/journey-*.png); the screens suite
// covers 1920×1080.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { launchApp } from "./harness.mjs";
import { startServer } from "./server.mjs";
import { appUi } from "./ui.mjs";

const SUBJECT = `来电反映：福华路夜间渣土车超速（${Date.now() % 100000}）`;
const PIN = "260315";

describe("each role's day on one letter, through the app only", () => {
  let server;
  let app;
  let ui;
  let dataDir;
  let id;
  /** The chief's key, as the chief's screen showed it at enrolment. */
  let fingerprint;

  before(async () => {
    server = await startServer();
    dataDir = mkdtempSync(join(tmpdir(), "jsjb-e2e-journeys-"));
    app = await launchApp({ screen: "1366x768x24", env: { JSJB_DATA_DIR: dataDir, JSJB_KEYRING: "file" } });
    await app.browser.setWindowSize(1366, 768);
    ui = appUi(app);
    await ui.$("login-screen").waitForDisplayed({ timeout: 30_000 });
    if ((await ui.browser.execute(() => document.documentElement.lang)) !== "zh-CN") await ui.press(ui.$("language-zh-CN"));
  });

  after(async () => {
    await app?.close();
    await server?.dispose();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const shot = async (name) => {
    await ui.browser.pause(350); // transitions
    await app.screenshot(`journey-${name}`);
  };

  /** Later steps need the letter of the first: without it they are skipped, not failed. */
  function needLetter(t) {
    if (id === undefined) t.skip("the first step did not make the letter");
    return id === undefined;
  }

  async function as(username) {
    await ui.signIn(server.url, username);
    await ui.waitOnline();
  }

  /** Opens a worklist tab (a Naive UI radio button) and waits for its list. */
  async function tab(testid) {
    await ui.press(ui.$(testid));
    await ui.waitFor(`the ${testid} list`, async () => (await ui.browser.$$("[data-row]")).length > 0 || (await ui.$("inbox-empty").isExisting()));
  }

  async function stateIs(state) {
    await ui.waitFor(`the letter ${state}`, async () => (await ui.openState()) === state, 30_000);
  }

  /** The chief enrols a key in 设置 and two admins approve it in the console, each
   * comparing the fingerprint the chief's screen shows. */
  async function enrolAndApprove() {
    await as("futian.chief");
    await ui.press(ui.$("nav-settings"));
    await ui.$("signing-key-card").waitForDisplayed({ timeout: 20_000 });
    await ui.retype("enrol-pin", PIN);
    await ui.retype("enrol-pin2", PIN);
    await ui.press(ui.$("enrol-submit"));
    await ui.waitFor(
      "the key pending",
      async () =>
        (await ui.$("signing-key-state").getText()).length > 0 &&
        (await ui.$("signing-key-fingerprint").isExisting()) &&
        (await ui.$("signing-key-fingerprint").getText()) !== fingerprint,
      30_000,
    );
    fingerprint = await ui.$("signing-key-fingerprint").getText();
    await ui.signOut();

    for (const admin of ["admin", "admin2"]) {
      await as(admin);
      await ui.$("admin-keys").waitForDisplayed({ timeout: 20_000 });
      const key = ui.browser.$(`//tr[.//*[@data-testid="admin-key-fingerprint"][normalize-space(.)="${fingerprint}"]]`);
      await key.waitForDisplayed({ timeout: 20_000 });
      await ui.press(key.$('[data-testid="admin-key-approve"]'));
      await ui.$("admin-approve-dialog").waitForDisplayed({ timeout: 10_000 });
      assert.equal(await ui.$("admin-approve-fingerprint").getText(), fingerprint);
      await shot(`admin-approve-${admin}`);
      await ui.press(ui.$("admin-approve-confirm"));
      await ui.$("admin-keys-done").waitForDisplayed({ timeout: 20_000 });
      await ui.signOut();
    }
  }

  it("before the day: the chief enrols a signing key, which two admins approve in the console", async () => {
    await enrolAndApprove();
  });

  it("the city desk types in a phone letter and dispatches it to the branch", async () => {
    await as("shiju.li");
    await ui.$("desk-screen").waitForDisplayed({ timeout: 20_000 });
    await ui.press(ui.$("phone-letter-open"));
    const dialog = ui.$("phone-letter-dialog");
    await dialog.waitForDisplayed({ timeout: 10_000 });
    await ui.type(dialog, "phone-writer-name", "陈女士");
    await ui.type(dialog, "phone-writer-phone", "13923456789");
    await ui.choose(dialog, "phone-category", "举报投诉");
    await ui.type(dialog, "phone-subject", SUBJECT);
    await ui.type(dialog, "phone-body", "每晚十一点后有渣土车在福华路超速行驶，噪音大，存在安全隐患。");
    await shot("city-phone-letter");
    await ui.press(ui.$("phone-letter-submit"));
    await dialog.waitForDisplayed({ reverse: true, timeout: 20_000 });
    // The letter syncs into the desk's 待派发 like any arrival.
    id = await ui.waitFor(
      "the typed-in letter in 待派发",
      () =>
        ui.browser.execute((subject) => {
          const row = [...document.querySelectorAll("[data-row]")].find((r) => r.querySelector('[data-testid="row-subject"]')?.innerText === subject);
          return row ? Number(row.getAttribute("data-testid").replace("row-", "")) : false;
        }, SUBJECT),
      30_000,
    );
    await ui.openLetter(id);
    await shot("city-letter");
    // The writer spoke of noise: the desk tags the problem class (served by the server).
    await ui.act("reclassify", async (d) => {
      await ui.choose(d, "field-problem-tags", "噪音扰民");
      await ui.type(d, "field-note", "来电反映夜间噪音");
      await shot("city-reclassify");
    });
    await ui.waitFor("the reclassification in the history", async () => (await ui.textOf("timeline")).includes("重新分类"), 30_000);
    await ui.act("dispatch", async (d) => {
      await ui.choose(d, "field-to", "福田分局");
      await ui.type(d, "field-note", "请福田分局核查处理");
    });
    await stateIs("dispatched");
    await ui.signOut();
  });

  it("the branch desk finds it in 待派发 and forwards it to the station", async (t) => {
    if (needLetter(t)) return;
    await as("futianfj.desk");
    await ui.$("desk-screen").waitForDisplayed({ timeout: 20_000 });
    await ui.waitFor("the letter in 待派发", () => ui.row(id).isExisting(), 30_000);
    await shot("branch-queue");
    await ui.openLetter(id);
    await ui.act("dispatch", (d) => ui.choose(d, "field-to", "福田派出所"));
    await stateIs("dispatched");
    await ui.signOut();
  });

  it("the station returns it (退单)", async (t) => {
    if (needLetter(t)) return;
    await as("futian.liu");
    await ui.openLetter(id);
    await ui.act("return_letter", async (d) => {
      await ui.clickWhenFree("the reason", d.$('[data-testid="reason-not_our_jurisdiction"]'));
      await ui.type(d, "field-note", "该路段由交警部门管辖。");
    });
    await ui.waitFor("the letter gone from the station", async () => !(await ui.row(id).isExisting()) || (await ui.row(id).getAttribute("data-state")) === "received", 30_000);
    await ui.signOut();
  });

  it("the branch desk rules the return back (裁定)", async (t) => {
    if (needLetter(t)) return;
    await as("futianfj.desk");
    await ui.waitFor("the returned letter in 待派发", async () => (await ui.row(id).isExisting()) && (await ui.row(id).getAttribute("data-state")) === "received", 30_000);
    await ui.openLetter(id);
    await shot("branch-returned");
    await ui.act("rule_return", (d) => ui.type(d, "field-ruling", "经核实，超速渣土车夜间扰民属派出所治安管理职责，请继续办理。"));
    await stateIs("dispatched");
    await ui.signOut();
  });

  it("the station signs for it, works it and asks for an extension; the desk decides it from 延期待审批", async (t) => {
    if (needLetter(t)) return;
    await as("futian.liu");
    await ui.waitFor("the letter back", async () => (await ui.row(id).isExisting()) && (await ui.row(id).getAttribute("data-state")) === "dispatched", 30_000);
    await ui.clickWhenFree("the row's 签收", ui.row(id).$('[data-testid="row-sign-for"]'));
    await ui.waitFor("handling", async () => (await ui.row(id).getAttribute("data-state")) === "handling");
    await ui.waitFor("签收 accepted by the server", async () => !(await ui.row(id).$('[data-testid="pending-mark"]').isExisting()), 30_000);

    await ui.openLetter(id);
    await ui.act("record_contact");
    await ui.act("give_first_feedback", (d) => ui.type(d, "field-text", "已收到您的来信，民警正在核查渣土车通行情况。"));
    await ui.act("request_extension", async (d) => {
      await ui.type(d, "field-ext-reason", "需会同交警、城管调取夜间监控");
      await ui.type(d, "field-legal-basis", "《信访工作条例》第三十六条");
    });
    await ui.waitFor("the request accepted", async () => !(await ui.row(id).$('[data-testid="pending-mark"]').isExisting()), 30_000);
    await ui.signOut();

    await as("futianfj.desk");
    await tab("desk-extensions");
    await ui.waitFor("the request in 延期待审批", () => ui.row(id).isExisting(), 30_000);
    await ui.openLetter(id);
    await ui.act("decide_extension", async (d) => {
      assert.match(await d.$('[data-testid="extension-reason"]').getText(), /调取夜间监控/);
      assert.match(await d.$('[data-testid="extension-legal-basis"]').getText(), /第三十六条/);
      await shot("desk-decide-extension");
      await ui.press(d.$('[data-testid="approve-yes"]'));
      await ui.type(d, "field-note", "同意延期");
    });
    await ui.waitFor("the decision in the history", async () => (await ui.textOf("timeline")).includes("延期"), 30_000);
  });

  it("an extended case gets a 盯办 officer from the desk, who chases; the station sees 催办", async (t) => {
    if (needLetter(t)) return;
    // Only a case overdue or extended gets a supervising officer: this one now is.
    await ui.act("assign_supervisor", async (d) => {
      await ui.press(d.$('[data-testid="field-supervisor"]'));
      // The branch's own 盯办 officer (the list names each supervisor's unit).
      const option = ui.browser.$('//div[contains(@class,"n-base-select-option")][contains(.,"福田分局")]');
      await option.waitForDisplayed({ timeout: 10_000 });
      await ui.press(option);
      await ui.type(d, "field-note", "群众反映强烈，请专人盯办");
    });
    await ui.waitFor("the supervisor in the history", async () => (await ui.textOf("timeline")).includes("盯办"), 30_000);
    await ui.signOut();

    await as("futianfj.dingban");
    await ui.$("supervisor-screen").waitForDisplayed({ timeout: 20_000 });
    await ui.waitFor("the case in 我的盯办", () => ui.row(id).isExisting(), 30_000);
    await shot("supervisor-mine");
    await ui.openLetter(id);
    await ui.act("chase", (d) => ui.type(d, "field-note", "请今日内联系来信人并反馈进展"));
    await ui.waitFor("the chase in the history", async () => (await ui.textOf("timeline")).includes("催办"), 30_000);
    await ui.signOut();

    await as("futian.liu");
    await ui.waitFor("the 催办 badge on the row", () => ui.row(id).$('[data-testid="chased-mark"]').isExisting(), 30_000);
    await shot("station-chased");
  });

  it("the station submits the feedback form", async (t) => {
    if (needLetter(t)) return;
    await as("futian.liu");
    await ui.openLetter(id);
    await ui.act("submit_feedback_form", async (d) => {
      await ui.type(d, "field-summary", "会同交警在福华路设置夜间限速卡口，渣土车已改道。");
      await ui.type(d, "field-result", "问题已解决");
      await ui.type(d, "field-reply", "您反映的问题已处理，感谢您的监督。");
    });
    await stateIs("awaiting_approval");
    await ui.signOut();
  });

  it("the key is lost: an admin revokes it in the console with a reason; the chief is told, cannot sign, and a new key is approved", async (t) => {
    if (needLetter(t)) return;
    await as("admin");
    await ui.$("admin-keys").waitForDisplayed({ timeout: 20_000 });
    const key = ui.browser.$(`//tr[.//*[@data-testid="admin-key-fingerprint"][normalize-space(.)="${fingerprint}"]]`);
    await key.waitForDisplayed({ timeout: 20_000 });
    await ui.press(key.$('[data-testid="admin-key-revoke"]'));
    await ui.$("admin-revoke-dialog").waitForDisplayed({ timeout: 10_000 });
    // No reason, no revocation: the button waits for one.
    assert.equal(await ui.$("admin-revoke-confirm").isEnabled(), false);
    await ui.$("admin-revoke-reason").$("textarea").setValue("存放密钥的U盘遗失");
    await shot("admin-revoke");
    await ui.press(ui.$("admin-revoke-confirm"));
    await ui.$("admin-keys-done").waitForDisplayed({ timeout: 20_000 });
    await ui.signOut();

    await as("futian.chief");
    await ui.$("account-notices").waitForDisplayed({ timeout: 20_000 });
    const kinds = await ui.browser.execute(() => [...document.querySelectorAll('[data-testid="account-notice"]')].map((n) => n.getAttribute("data-kind")));
    assert.ok(kinds.includes("key_revoked"), `the chief is told the key was revoked: ${kinds}`);
    await shot("chief-key-revoked-notice");
    await ui.press(ui.$("account-notices-ack"));
    await ui.$("account-notices").waitForDisplayed({ reverse: true, timeout: 20_000 });
    // The form waiting in 待签批: with the key revoked, the pad and the button refuse.
    await ui.waitFor("the form in 待签批", () => ui.row(id).isExisting(), 30_000);
    assert.ok(await ui.row(id).$('[data-testid="new-mark"]').isExisting(), "a form newly waiting is highlighted");
    await ui.openLetter(id);
    await ui.$("signoff-panel").waitForDisplayed({ timeout: 20_000 });
    await ui.$("signoff-key-missing").waitForDisplayed({ timeout: 20_000 });
    assert.match(await ui.textOf("signoff-key-missing"), /已被管理员吊销/);
    assert.equal(await ui.$("signoff-sign").isEnabled(), false, "no signature with a revoked key");
    await shot("chief-key-revoked");
    await ui.signOut();
    // A new key, under the same dual control, before the chief signs.
    await enrolAndApprove();
  });

  it("the chief is alerted in 待签批, draws the signature and signs: the case closes", async (t) => {
    if (needLetter(t)) return;
    await as("futian.chief");
    // First, what happened to the chief's own account: the key the admins activated.
    await ui.$("account-notices").waitForDisplayed({ timeout: 20_000 });
    const notices = await ui.browser.execute(() => [...document.querySelectorAll('[data-testid="account-notice"]')].map((n) => n.getAttribute("data-kind")));
    assert.ok(notices.length > 0, "the chief is told about the key");
    await shot("chief-account-notice");
    await ui.press(ui.$("account-notices-ack"));
    await ui.$("account-notices").waitForDisplayed({ reverse: true, timeout: 20_000 });
    await ui.$("inbox-screen").waitForDisplayed({ timeout: 20_000 });
    await ui.waitFor("the form in 待签批", () => ui.row(id).isExisting(), 30_000);
    await ui.openLetter(id);
    await ui.$("signoff-panel").waitForDisplayed({ timeout: 20_000 });
    await ui.waitFor("the key active", async () => !(await ui.$("signoff-key-missing").isExisting()), 30_000);
    // The signature, stroke by stroke, with the pointer (a mouse held down and moved).
    const canvas = await ui.$("signature-canvas");
    await canvas.scrollIntoView();
    await ui.browser
      .action("pointer", { parameters: { pointerType: "mouse" } })
      .move({ origin: canvas, x: -100, y: 10 })
      .down()
      .move({ origin: canvas, x: -60, y: -25, duration: 120 })
      .move({ origin: canvas, x: -20, y: 20, duration: 120 })
      .move({ origin: canvas, x: 30, y: -15, duration: 120 })
      .move({ origin: canvas, x: 90, y: 15, duration: 120 })
      .up()
      .perform();
    await ui.waitFor("the pad to take the stroke", () => ui.$("pad-undo").isEnabled());
    await shot("chief-signing");
    await ui.press(ui.$("signoff-sign"));
    await ui.retype("pin-input", PIN);
    await ui.press(ui.$("pin-submit"));
    await stateIs("closed");
    await shot("chief-signed");
    await ui.signOut();
  });

  it("the branch desk records the return visit from 待回访, and its wall board shows the station", async (t) => {
    if (needLetter(t)) return;
    await as("futianfj.desk");
    await tab("desk-visits");
    await ui.waitFor("the case in 待回访", () => ui.row(id).isExisting(), 30_000);
    await ui.openLetter(id);
    await ui.act("record_return_visit", async (d) => {
      await ui.press(d.$('[data-testid="resolved-yes"]'));
      await ui.press(d.$('[data-testid="field-satisfaction"]').$("label"));
      await ui.type(d, "field-note", "来信人表示渣土车已不再夜间超速。");
    });
    await ui.waitFor("the visit in the history", async () => (await ui.textOf("timeline")).includes("回访"), 30_000);

    await ui.press(ui.$("nav-board"));
    await ui.$("wall-board").waitForDisplayed({ timeout: 20_000 });
    await ui.waitFor("the board's rows", () => ui.browser.$('[data-testid^="board-row-"]').isExisting(), 30_000);
    const rows = await ui.browser.execute(() => [...document.querySelectorAll('[data-testid^="board-row-"]')].map((r) => r.innerText));
    assert.ok(rows.some((r) => r.includes("福田派出所")), rows.join("\n"));
    await shot("branch-wall-board");
    await ui.signOut();
  });
});
