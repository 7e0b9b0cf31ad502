// The decision dialogs of issue 13 item 7 and the handover of item 13, each taken through
// the real app by the role that takes it (signing in through the login form), against
// the real server. What leads up to a decision (a letter typed in, dispatched, returned,
// an extension asked for) is set up through the API as the other desks would; the
// decision itself is clicks and keystrokes only.
//
//   branch desk (futianfj.desk)  退单裁定 改派 to 华富派出所; 退单裁定 上报 to the city;
//                                延期审批 granting a date other than the one asked
//   city desk (shiju.li)         finds the passed-up letter in 待派发; 回访 not reached
//                                (the visit stays due), then reached (it leaves 待回访)
//   station (futian.liu)         交接班 naming the outgoing officer, ticking one letter of
//                                those listed (the app asks again), with a note the record shows
//
// Screens at 1366×768: tests/.artifacts/decision-*.png.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { launchApp } from "./harness.mjs";
import { startServer } from "./server.mjs";
import { appUi } from "./ui.mjs";

const TAG = Date.now() % 100000;
const DAY = 86_400_000;

/** An instant as the app's pickers write it: China Standard Time, "yyyy-MM-dd HH:mm". */
function cstMinute(ms) {
  return new Date(ms + 8 * 3600_000).toISOString().slice(0, 16).replace("T", " ");
}

describe("the decisions a desk takes, and the handover, through the app", () => {
  let server;
  let app;
  let ui;
  let dataDir;
  let city;
  let branch;
  let station;
  const ids = {};

  before(async () => {
    // Twelve days of history: some cases are closed and wait for their return visit.
    server = await startServer({ days: 12, perDay: 4 });
    city = await server.api("shiju.li");
    branch = await server.api("futianfj.desk");
    station = await server.api("futian.liu");
    // Two letters the city sent down to the branch, the branch to 福田派出所, and the
    // station returned (so the branch desk has them back to rule on).
    for (const which of ["redispatch", "passUp"]) {
      const { id } = await city.postLetter({
        subject: `${which === "redispatch" ? "华富路" : "跨区"}商铺占道经营（${TAG}）`,
        body: "商铺长期占用人行道摆卖，行人只能走机动车道。",
      });
      await city.act(id, { action: "dispatch", to: city.unitId("福田分局"), note: "请福田分局处理" });
      await branch.act(id, { action: "dispatch", to: branch.unitId("福田派出所"), note: "请核实处理" });
      await station.act(id, { action: "return_letter", reason: "not_our_jurisdiction", note: "该地址不属本所辖区。" });
      ids[which] = id;
    }
    // A case at the station whose officer asks for more time.
    const { id } = await branch.postLetter({ subject: `小区消防通道被占（${TAG}）`, body: "消防通道长期被车辆占用。" });
    await branch.act(id, { action: "dispatch", to: branch.unitId("福田派出所"), note: "请核实处理" });
    await station.act(id, { action: "sign_for" });
    const letter = await station.letter(id);
    ids.extension = id;
    ids.receivedMs = Date.parse(letter.received_at);
    await station.act(id, {
      action: "request_extension",
      reason: "需会同街道、物业共同整改",
      legal_basis: "《信访工作条例》第三十六条",
      requested_due: new Date(ids.receivedMs + 40 * DAY).toISOString(),
    });

    dataDir = mkdtempSync(join(tmpdir(), "jsjb-e2e-decisions-"));
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
    await app.screenshot(`decision-${name}`);
  };

  async function as(username) {
    await ui.signIn(server.url, username);
    await ui.waitOnline();
  }

  /** Opens a worklist tab (a Naive UI radio button) and waits for its list. */
  async function tab(testid) {
    await ui.press(ui.$(testid));
    await ui.waitFor(`the ${testid} list`, async () => (await ui.browser.$$("[data-row]")).length > 0 || (await ui.$("inbox-empty").isExisting()));
  }

  /** Presses a radio (or checkbox) of the dialog by its test id. */
  const pick = (dialog, testid) => ui.press(dialog.$(`[data-testid="${testid}"]`));

  it("the branch desk upholds a return and sends the letter to another station (改派)", async () => {
    await as("futianfj.desk");
    await ui.$("desk-screen").waitForDisplayed({ timeout: 20_000 });
    const id = ids.redispatch;
    await ui.waitFor("the returned letter in 待派发", async () => (await ui.row(id).isExisting()) && (await ui.row(id).getAttribute("data-state")) === "received", 30_000);
    await ui.openLetter(id);
    await ui.act("rule_return", async (d) => {
      // Three outcomes; send back names the station that returned it.
      assert.match(await d.$('[data-testid="ruling-send_back"]').getText(), /福田派出所/);
      assert.ok(await d.$('[data-testid="ruling-pass_up"]').isExisting(), "a letter from the city can go back up");
      await pick(d, "ruling-redispatch");
      await d.$('[data-testid="field-to"]').waitForDisplayed({ timeout: 5_000 });
      await ui.choose(d, "field-to", "华富派出所");
      await ui.type(d, "field-ruling", "经核实，该路段属华富派出所辖区，改派华富派出所办理。");
      await shot("rule-redispatch");
    });
    await ui.waitFor("the letter at 华富派出所", async () => {
      const letter = await branch.letter(id);
      return letter.state === "dispatched" && letter.unit_id === branch.unitId("华富派出所");
    }, 30_000);
    // The ruling: a dispatch that upheld the return, with the desk's words.
    const events = (await branch.letter(id)).events;
    const ruled = events.find((e) => e.payload.kind === "dispatched" && e.payload.return_upheld === true);
    assert.ok(ruled, `the ruling is in the letter's history: ${JSON.stringify(events.map((e) => e.payload))}`);
    assert.match(ruled.payload.ruling, /改派华富派出所/);
    await ui.waitFor("the ruling in the app's history", async () => (await ui.textOf("timeline")).includes("华富派出所"), 30_000);
    await shot("rule-redispatch-done");
  });

  it("the branch desk upholds a return and passes the letter up to the city (上报)", async () => {
    const id = ids.passUp;
    await ui.openLetter(id);
    await ui.act("rule_return", async (d) => {
      await pick(d, "ruling-pass_up");
      // Passing up says why, as a return does.
      await d.$('[data-testid="reason-unclear_ownership"]').waitForDisplayed({ timeout: 5_000 });
      await pick(d, "reason-unclear_ownership");
      assert.equal(await d.$('[data-testid="field-to"]').isExisting(), false, "上报 names no unit: the desk above decides");
      await ui.type(d, "field-ruling", "涉及两区交界，辖区不明，报市局专班协调。");
      await shot("rule-pass-up");
    });
    await ui.waitFor("the letter back at the city desk", async () => {
      const letter = await city.letter(id);
      return letter.state === "received" && letter.unit_id === city.me.unit_id;
    }, 30_000);
    const up = (await city.letter(id)).events.filter((e) => e.payload.kind === "returned").pop();
    assert.equal(up.payload.reason, "unclear_ownership");
    assert.match(up.payload.note, /报市局专班协调/);
    // The branch no longer holds it.
    await ui.waitFor("the row gone from 待派发", async () => !(await ui.row(id).isExisting()), 30_000);
  });

  it("the branch desk approves an extension for a date of its own, not the one asked", async () => {
    const id = ids.extension;
    await tab("desk-extensions");
    await ui.waitFor("the request in 延期待审批", () => ui.row(id).isExisting(), 30_000);
    await ui.openLetter(id);
    const asked = cstMinute(ids.receivedMs + 40 * DAY);
    const granted = cstMinute(ids.receivedMs + 25 * DAY);
    await ui.act("decide_extension", async (d) => {
      // What the decision needs: the date asked, the one in force, the reason, the basis.
      assert.equal(await d.$('[data-testid="extension-requested-due"]').getText(), asked);
      assert.match(await d.$('[data-testid="extension-reason"]').getText(), /会同街道/);
      assert.match(await d.$('[data-testid="extension-legal-basis"]').getText(), /第三十六条/);
      await pick(d, "approve-yes");
      await pick(d, "field-grant-other");
      const picker = d.$('[data-testid="field-granted-due"] input');
      await picker.waitForDisplayed({ timeout: 5_000 });
      // It starts from the date asked; the desk types its own.
      assert.equal(await picker.getValue(), asked);
      // Typed whole into the input, as a paste would: WebDriver's keystrokes reach the
      // picker's panel, which opens on focus, rather than its input.
      await ui.browser.execute(
        (input, text) => {
          input.focus();
          Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value").set.call(input, text);
          input.dispatchEvent(new Event("input", { bubbles: true }));
        },
        await picker,
        granted,
      );
      // Leave the picker (its panel closes) by moving to the note.
      await ui.type(d, "field-note", "同意延期，但须在十日内完成整改");
      await ui.waitFor("the typed date kept", async () => (await picker.getValue()) === granted, 5_000).catch(async (e) => {
        await shot("debug-granted");
        throw new Error(`${e.message}: the picker shows ${await picker.getValue()}, not ${granted}`);
      });
      await shot("extension-granted-other");
    });
    await ui.waitFor("the decision on the server", async () => (await branch.letter(id)).events.some((e) => e.payload.kind === "extension_decided"), 30_000);
    // 延期待审批 is empty now, and says nothing of new letters ringing (none arrive there).
    await ui.waitFor("the empty list", () => ui.$("inbox-empty").isExisting(), 30_000);
    assert.equal(await ui.$("inbox-empty-hint").isExisting(), false);
    const decided = (await branch.letter(id)).events.find((e) => e.payload.kind === "extension_decided");
    assert.equal(decided.payload.approve, true);
    assert.equal(cstMinute(Date.parse(decided.payload.new_due)), granted, "the date granted, not the one asked");
    // The open letter's closure clock moves to it.
    await ui.waitFor("the new closure deadline", async () => (await ui.browser.$('[data-clock="closure"]').getText()).includes("原定"), 30_000);
    await shot("extension-decided");
    await ui.signOut();
  });

  it("the city desk finds the passed-up letter, and records a return visit not reached, then reached", async () => {
    await as("shiju.li");
    await ui.$("desk-screen").waitForDisplayed({ timeout: 20_000 });
    await ui.waitFor("the passed-up letter in 待派发", async () => (await ui.row(ids.passUp).isExisting()) && (await ui.row(ids.passUp).getAttribute("data-state")) === "received", 30_000);
    await tab("desk-visits");
    const id = await ui.waitFor(
      "a case in 待回访",
      // A closed case (the list before the tab's may still be on screen for a moment).
      () => ui.browser.execute(() => {
        const row = document.querySelector('[data-row][data-state="closed"]');
        return row ? Number(row.getAttribute("data-testid").replace("row-", "")) : false;
      }),
      30_000,
    );
    await ui.openLetter(id);
    await ui.act("record_return_visit", async (d) => {
      await pick(d, "method-phone");
      await pick(d, "outcome-unreachable");
      // Not reached: nothing to ask about resolution or satisfaction.
      await d.$('[data-testid="visit-unreachable-hint"]').waitForDisplayed({ timeout: 5_000 });
      assert.equal(await d.$('[data-testid="field-resolved"]').isExisting(), false);
      await ui.type(d, "field-note", "电话无人接听，明日再访。");
      await shot("visit-unreachable");
    });
    // Recorded, not done: the toast says the visit is still due.
    await ui.waitFor("the toast", async () => (await ui.browser.execute(() => [...document.querySelectorAll(".n-message")].map((m) => m.innerText).join("|"))).includes("已记录「回访」：未联系上来信人，仍待完成"), 10_000);
    await ui.waitFor("the attempt in the history", async () => (await ui.textOf("timeline")).includes("回访未联系上来信人"), 30_000);
    await ui.waitFor("the attempt on the server", async () => (await city.letter(id)).events.some((e) => e.payload.kind === "return_visit_attempted"), 30_000);
    // Still due: still in 待回访 once the attempt is applied, and the visit can be taken again.
    await ui.waitFor("the attempt applied", async () => !(await ui.row(id).$('[data-testid="pending-mark"]').isExisting()), 30_000);
    await ui.browser.pause(500);
    assert.ok(await ui.row(id).isExisting(), "the visit stays due");
    assert.ok(!(await city.letter(id)).events.some((e) => e.payload.kind === "return_visit_recorded"));
    await shot("visit-still-due");

    await ui.act("record_return_visit", async (d) => {
      await pick(d, "method-phone");
      await pick(d, "outcome-reached");
      await pick(d, "resolved-yes");
      await ui.press(d.$('[data-testid="field-satisfaction"]').$("label"));
      await ui.type(d, "field-note", "来信人表示问题已解决，对处理结果满意。");
      await shot("visit-reached");
    });
    await ui.waitFor("the visit on the server", async () => (await city.letter(id)).events.some((e) => e.payload.kind === "return_visit_recorded"), 30_000);
    const visit = (await city.letter(id)).events.find((e) => e.payload.kind === "return_visit_recorded");
    assert.equal(visit.payload.resolved, true);
    await ui.waitFor("the case gone from 待回访", async () => !(await ui.row(id).isExisting()), 30_000);
    await ui.signOut();
  });

  it("the station's officer takes over the shift: names who hands over, ticks letters, and the record shows the note", async () => {
    await as("futian.liu");
    await ui.press(ui.$("nav-handover"));
    await ui.$("handover-screen").waitForDisplayed({ timeout: 20_000 });
    await ui.waitFor("the lists", async () => !(await ui.browser.$(".handover .n-spin").isExisting()), 30_000);
    assert.equal(await ui.textOf("handover-incoming"), "接班人：刘瑞峰");
    // The extended case, signed for and not yet contacted, is on the list.
    const tickOf = (letter) => ui.browser.$(`[data-testid$="-${letter}"][data-testid^="handover-tick-"]`);
    await ui.waitFor("the extended case listed", () => tickOf(ids.extension).isExisting(), 30_000);
    await ui.choose(ui.browser, "handover-outgoing", "黄思远");
    // One letter ticked, the extended case; another listed is left unticked.
    const other = await ui.browser.execute((mine) => {
      const ticks = [...document.querySelectorAll('[data-testid^="handover-tick-"]')].map((e) => Number(e.getAttribute("data-testid").split("-").pop()));
      return ticks.find((t) => t !== mine) ?? null;
    }, ids.extension);
    assert.ok(other, "another letter listed");
    await ui.press(tickOf(ids.extension));
    const listed = await ui.browser.execute(
      () => new Set([...document.querySelectorAll('[data-testid^="handover-tick-"]')].map((e) => e.getAttribute("data-testid").split("-").pop())).size,
    );
    await ui.waitFor("the count on the button", async () => (await ui.textOf("handover-ack")).includes(`已勾选 1/${listed}`));
    // One tick per letter: on every list the letter is on.
    const ticked = await ui.browser.execute(
      (mine) => [...document.querySelectorAll(`[data-testid^="handover-tick-"][data-testid$="-${mine}"]`)].map((e) => e.classList.contains("n-checkbox--checked")),
      ids.extension,
    );
    assert.ok(ticked.length >= 1 && ticked.every(Boolean), `the extended case ticked on each of its lists: ${ticked}`);
    const note = "消防通道一案已获延期，请跟进整改";
    const noteInput = ui.browser.$(".handover .note-input input");
    await noteInput.setValue(note);
    await shot("handover-ticked");
    await ui.press(ui.$("handover-ack"));
    // Not every letter ticked: the app asks once more, saying how many are left.
    const go = ui.browser.$("//button[contains(.,'仍确认接班')]");
    await go.waitForClickable({ timeout: 10_000 });
    assert.match(await ui.browser.$(".n-dialog").getText(), new RegExp(`共 ${listed} 件来信，还有 ${listed - 1} 件未勾选核对`));
    await shot("handover-confirm");
    await go.click();
    await ui.$("handover-history").waitForDisplayed({ timeout: 30_000 });
    await ui.waitFor(
      "the record with its pair, ticks and note",
      async () => {
        const text = await ui.textOf("handover-history");
        return text.includes("黄思远 → 刘瑞峰") && text.includes(`勾选 1/${listed}`) && text.includes(`说明：${note}`) && text.includes("已记录");
      },
      30_000,
    );
    await shot("handover-recorded");
    const acks = await station.handovers();
    assert.equal(acks[0].handed_over_by_name, "黄思远");
    assert.equal(acks[0].note, note);
    assert.deepEqual(acks[0].checked_ids, [ids.extension]);
    assert.ok(acks[0].letter_ids.includes(other), "the unticked letter was listed");
    await ui.signOut();
  });
});
