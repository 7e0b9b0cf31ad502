// The first screen of the real app: product name, version, 未连接, language switch.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { launchApp, workspaceVersion } from "./harness.mjs";

describe("first screen", () => {
  let app;
  let browser;

  before(async () => {
    app = await launchApp();
    browser = app.browser;
    // app_info has answered once the version is on screen.
    await browser.$('[data-testid="app-version"]').waitForDisplayed({ timeout: 15_000 });
  });

  after(async () => {
    await app?.close();
  });

  const text = (testid) => browser.$(`[data-testid="${testid}"]`).getText();

  it("shows the product in Chinese, its version and 未连接", async () => {
    assert.equal(await browser.getTitle(), "接诉即办工作台");
    assert.equal(await text("product-name"), "接诉即办工作台");
    assert.equal(await text("app-version"), workspaceVersion());
    const states = await browser.$$('[data-testid="connection-state"]');
    assert.ok(states.length >= 1);
    for (const state of states) {
      assert.equal(await state.getText(), "未连接");
      assert.equal(await state.getAttribute("data-state"), "disconnected");
    }
    await app.screenshot("first-screen-zh");
  });

  it("switches to English and back when the officer clicks", async () => {
    await browser.$('[data-testid="language-en"]').click();
    await browser.waitUntil(async () => (await text("connection-state")) === "Not connected", {
      timeout: 5_000,
      timeoutMsg: "the connection state did not switch to English",
    });
    assert.equal(await text("product-name"), "Jiesu Jiban Desk");
    assert.equal(await browser.execute(() => document.documentElement.lang), "en");
    await browser.pause(400); // let Naive UI's colour transitions finish for the picture
    await app.screenshot("first-screen-en");

    await browser.$('[data-testid="language-zh-CN"]').click();
    await browser.waitUntil(async () => (await text("connection-state")) === "未连接", {
      timeout: 5_000,
      timeoutMsg: "the connection state did not switch back to Chinese",
    });
    assert.equal(await text("product-name"), "接诉即办工作台");
    assert.equal(await text("app-version"), workspaceVersion());
  });
});

describe("security", () => {
  let app;

  before(async () => {
    app = await launchApp();
  });

  after(async () => {
    await app?.close();
  });

  it("runs the page under a CSP that forbids eval", async () => {
    await app.browser.$('[data-testid="app-version"]').waitForDisplayed({ timeout: 15_000 });
    // WebDriver's own script runs outside the page's CSP; the page's eval does not.
    const outcome = await app.browser.execute(() => {
      try {
        return String(new Function("return 'eval allowed'")());
      } catch (error) {
        return error instanceof Error ? error.name : String(error);
      }
    });
    assert.equal(outcome, "EvalError");
  });
});
