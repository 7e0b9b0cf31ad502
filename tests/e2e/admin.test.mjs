// The bureau's own staff run the platform from the app (issue 14 item 1), each through
// their own screens — no step calls the server from the test:
//
//   admin (city)     creates a branch and a station under it, and an officer there with
//                    an initial password; edits the officer (修改) with a reason; is told
//                    the station cannot be deactivated while people work there; sets a
//                    自动分派规则, tries it on a sample letter and saves it
//   the new officer  signs in, must change the password first, then works
//   chief            grants a colleague 代签 from 待签批's 代签授权, then revokes it
//
// Screens are saved at 1366×768 (tests/.artifacts/admin-*.png).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { launchApp } from "./harness.mjs";
import { startServer } from "./server.mjs";
import { appUi } from "./ui.mjs";

const SUFFIX = String(Date.now() % 100000);
const BRANCH = `测试分局${SUFFIX}`;
const STATION = `测试派出所${SUFFIX}`;
const USERNAME = `new.officer${SUFFIX}`;
const INITIAL = "initial-pass-2026";
const OWN = "my-own-password-2026";

describe("running the platform from the admin console", () => {
  let server;
  let app;
  let ui;
  let dataDir;

  before(async () => {
    server = await startServer();
    dataDir = mkdtempSync(join(tmpdir(), "jsjb-e2e-admin-"));
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
    await ui.browser.pause(350);
    await app.screenshot(`admin-${name}`);
  };
  const page = (u) => u.browser;
  const done = async (testid) => {
    await ui.$(testid).waitForDisplayed({ timeout: 20_000 });
    return ui.textOf(testid);
  };
  /** Picks an option of a filterable select by typing its name (a long list of units is
   * virtual: an option far down is not in the page until the list is filtered). */
  const pick = async (testid, label) => {
    await ui.press(ui.$(testid));
    await ui.$(testid).$("input").setValue(label);
    const option = ui.browser.$(`//div[contains(@class,"n-base-select-option")][starts-with(normalize-space(.),"${label}")]`);
    await option.waitForDisplayed({ timeout: 10_000 });
    await ui.press(option);
  };
  /** Replaces the text of a Naive UI input (select all, delete, type: an input event each). */
  const replace = async (testid, text) => {
    const input = ui.$(testid).$("input");
    await input.click();
    await ui.browser.keys(["End"]);
    for (let left = [...(await input.getValue())].length; left > 0; left--) await ui.browser.keys(["Backspace"]);
    assert.equal(await input.getValue(), "", `${testid} emptied`);
    await input.addValue(text);
  };
  const unitRow = (name) => ui.browser.$(`//tr[starts-with(@data-testid,"admin-unit-")][.//td[contains(normalize-space(.),"${name}")]]`);

  it("the city admin creates a branch, a station under it and an officer there", async () => {
    await ui.signIn(server.url, "admin");
    await ui.waitOnline();
    if (!(await ui.$("admin-screen").isExisting())) await ui.press(ui.$("nav-admin"));
    await ui.press(ui.$("admin-tab-units"));
    await ui.$("admin-units").waitForDisplayed({ timeout: 20_000 });

    await ui.press(ui.$("admin-unit-new"));
    await ui.$("admin-unit-new-name").waitForDisplayed({ timeout: 10_000 });
    await ui.choose(page(ui), "admin-unit-tier", "分局");
    await ui.type(page(ui), "admin-unit-new-name", BRANCH);
    await ui.press(ui.$("admin-unit-create"));
    assert.match(await done("admin-units-done"), new RegExp(BRANCH));

    await ui.press(ui.$("admin-unit-new"));
    await ui.$("admin-unit-new-name").waitForDisplayed({ timeout: 10_000 });
    await pick("admin-unit-parent", BRANCH);
    await ui.type(page(ui), "admin-unit-new-name", STATION);
    await ui.press(ui.$("admin-unit-create"));
    await ui.waitFor("the station listed", () => unitRow(STATION).isExisting());

    await ui.press(ui.$("admin-tab-users"));
    await ui.press(ui.$("admin-user-new"));
    await ui.$("admin-user-form").waitForDisplayed({ timeout: 10_000 });
    await pick("admin-user-unit", STATION);
    await ui.type(page(ui), "admin-user-username", USERNAME);
    await ui.type(page(ui), "admin-user-display", "新同事");
    await ui.press(ui.$("admin-user-role-officer"));
    await ui.type(page(ui), "admin-user-password", INITIAL);
    await shot("new-user");
    await ui.press(ui.$("admin-user-create"));
    assert.match(await done("admin-users-done"), /新同事/);
  });

  it("edits the officer with a reason, and cannot deactivate a station people work in", async () => {
    const row = ui.$(`admin-user-${USERNAME}`);
    await row.waitForDisplayed({ timeout: 20_000 });
    await ui.press(row.$('[data-testid="admin-user-edit"]'));
    await ui.$("admin-user-edit-form").waitForDisplayed({ timeout: 10_000 });
    await replace("admin-user-edit-display", "新同事（见习）");
    await ui.type(page(ui), "admin-user-edit-reason", "更正姓名");
    await shot("edit-user");
    await ui.press(ui.$("admin-user-edit-confirm"));
    assert.match(await done("admin-users-done"), /已保存新同事（见习）的修改/);

    await ui.press(ui.$("admin-tab-units"));
    await ui.$("admin-units").waitForDisplayed({ timeout: 20_000 });
    // The users tab's "saved" toast can still cover the row, and the list can re-render
    // under the click (CI once clicked a row that was being replaced): press until the
    // reason dialog is up.
    await ui.waitFor("the station's deactivate dialog", async () => {
      if (await ui.$("admin-unit-toggle-reason").isDisplayed()) return true;
      await ui.clickWhenFree("the station's toggle", unitRow(STATION).$('[data-testid="admin-unit-toggle"]'));
      await ui.$("admin-unit-toggle-reason").waitForDisplayed({ timeout: 2_000 }).catch(() => {});
      return ui.$("admin-unit-toggle-reason").isDisplayed();
    }, 20_000);
    await ui.type(page(ui), "admin-unit-toggle-reason", "撤并");
    await ui.press(ui.$("admin-unit-toggle-confirm"));
    await ui.$("admin-units-error").waitForDisplayed({ timeout: 20_000 });
    assert.match(await ui.textOf("admin-units-error"), /仍有在用的用户/);
    await shot("unit-in-use");
    await ui.browser.keys(["Escape"]);
  });

  it("sets a routing rule, tries it on a sample letter and saves it", async () => {
    await ui.press(ui.$("admin-tab-routing"));
    await ui.$("admin-routing").waitForDisplayed({ timeout: 20_000 });
    await ui.press(ui.$("admin-routing-add"));
    const rows = await ui.browser.$$('[data-testid^="admin-routing-rule-"]');
    const last = rows[rows.length - 1];
    await last.$('[data-testid="admin-routing-name"] input').setValue(`${STATION}辖区`);
    const tags = last.$('[data-testid="admin-routing-keywords"]');
    await ui.press(tags.$("button"));
    await tags.$("input").setValue(`测试路${SUFFIX}`);
    await ui.browser.keys(["Enter"]);
    await ui.press(last.$('[data-testid="admin-routing-to"]'));
    await last.$('[data-testid="admin-routing-to"] input').setValue(STATION);
    const option = ui.browser.$(`//div[contains(@class,"n-base-select-option")][starts-with(normalize-space(.),"${STATION}")]`);
    await option.waitForDisplayed({ timeout: 10_000 });
    await ui.press(option);
    await ui.$("admin-routing-test-body").$("textarea").setValue(`测试路${SUFFIX}每晚施工`);
    await ui.press(ui.$("admin-routing-test-run"));
    await ui.$("admin-routing-test-result").waitForDisplayed({ timeout: 20_000 });
    assert.match(await ui.textOf("admin-routing-test-result"), new RegExp(`将自动派往${STATION}`));
    await ui.$("admin-routing-reason").$("input").setValue("新辖区");
    await shot("routing");
    await ui.press(ui.$("admin-routing-save"));
    assert.match(await done("admin-routing-done"), /已保存为第 \d+ 版/);
    await ui.signOut();
  });

  it("the new officer signs in, must change the password first, then works", async () => {
    await ui.login(server.url, USERNAME, INITIAL);
    await ui.$("change-password-dialog").waitForDisplayed({ timeout: 30_000 });
    assert.match(await ui.textOf("change-password-required"), /管理员设置/);
    await ui.$("change-password-current").$("input").setValue(INITIAL);
    await ui.$("change-password-new").$("input").setValue(OWN);
    await ui.$("change-password-again").$("input").setValue(OWN);
    await shot("must-change");
    await ui.press(ui.$("change-password-submit"));
    await ui.waitFor("the dialog gone", async () => !(await ui.$("change-password-dialog").isDisplayed().catch(() => false)));
    await ui.$("current-user").waitForDisplayed({ timeout: 20_000 });
    assert.match(await ui.textOf("current-user"), /新同事（见习）/);
    await ui.signOut();
  });

  it("the chief grants 代签 from 待签批 and revokes it", async () => {
    await ui.signIn(server.url, "futian.chief");
    await ui.waitOnline();
    await ui.press(ui.$("nav-chief"));
    await ui.press(ui.$("chief-delegations"));
    await ui.$("delegation-form").waitForDisplayed({ timeout: 20_000 });
    await ui.choose(page(ui), "delegation-deputy", "");
    await ui.$("delegation-note").$("input").setValue("出差期间");
    await ui.press(ui.$("delegation-grant"));
    assert.match(await done("delegations-done"), /代签/);
    await ui.waitFor("the grant listed", () => ui.browser.$('[data-testid="delegation-state"]').isExisting());
    assert.equal(await ui.browser.$('[data-testid="delegation-state"]').getText(), "生效中");
    await shot("delegations");
    await ui.press(ui.browser.$('[data-testid="delegation-revoke"]'));
    const confirm = ui.browser.$(".n-popconfirm__action .n-button--primary-type");
    await confirm.waitForClickable({ timeout: 5_000 });
    await confirm.click();
    await ui.waitFor("the grant revoked", async () => (await ui.browser.$('[data-testid="delegation-state"]').getText()) === "已撤销");
  });
});
