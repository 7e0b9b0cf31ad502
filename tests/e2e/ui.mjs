// What every end-to-end suite does to the real app through WebDriver, in one place: find
// by test id, wait, type into a Naive UI field, click through a closing dialog's mask,
// sign in and out through the login form, open a letter and take an action through its
// dialog. Nothing here calls the server: a journey is the user's clicks.
//
//   const ui = appUi(app);           // app from launchApp / launchSignedIn
//   await ui.signIn(server.url, "futianfj.desk");
//   await ui.openLetter(id);
//   await ui.act("dispatch", (d) => ui.choose(d, "field-to", "福田派出所"));
import { DEMO_PASSWORD } from "./server.mjs";

export function appUi(app) {
  const browser = app.browser;
  const $ = (testid) => browser.$(`[data-testid="${testid}"]`);
  const row = (id) => browser.$(`[data-testid="row-${id}"]`);
  const waitFor = (what, fn, timeout = 20_000) =>
    browser.waitUntil(fn, { timeout, interval: 200, timeoutMsg: `timed out waiting for ${what}` });
  // WebKitWebDriver's getText answers "" for text in an overflow-hidden box: read innerText.
  const textOf = (testid) =>
    browser.execute((id) => document.querySelector(`[data-testid="${id}"]`)?.innerText ?? "", testid);

  // WebDriver's clear() empties the <input> without an input event, so Vue's model would
  // keep the old text: select all and delete with keys instead, then type.
  // A re-render between the keys (a form swapping a field in) can leave the old text
  // selected only in part: try again until the field holds exactly the text.
  async function retype(testid, text) {
    const input = $(testid);
    for (let attempt = 1; ; attempt++) {
      await input.click();
      await browser.keys(["Control", "a"]);
      await browser.keys(["Backspace"]);
      if ((await input.getValue()) === "") {
        await input.addValue(text);
        if ((await input.getValue()) === text) return;
      }
      if (attempt === 3) throw new Error(`${testid} holds ${JSON.stringify(await input.getValue())}, not the text typed`);
      await browser.pause(300);
    }
  }

  /** Clicks, falling back to a DOM click when a transition overlaps the element. */
  async function press(element) {
    try {
      await element.click();
    } catch (error) {
      if (!String(error).includes("intercepted")) throw error;
      const el = await element;
      await browser.execute((target) => target.click(), el);
    }
  }

  // A toast or a dialog still fading out can cover an element for a moment: a click it
  // intercepts is tried again rather than failing the test.
  async function clickWhenFree(what, element) {
    await waitFor(`${what} to take the click`, async () => {
      try {
        await (await element).click();
        return true;
      } catch (error) {
        if (!String(error).includes("intercepted")) throw error;
        return false;
      }
    });
  }

  async function login(url, username, password = DEMO_PASSWORD) {
    await $("login-screen").waitForDisplayed({ timeout: 20_000 });
    // The address last signed in to is shown, not edited: change it only when it differs.
    const known = $("login-server-known");
    if (!(await known.isExisting()) || (await known.getText()) !== url) {
      if (await known.isExisting()) await $("login-change-server").click();
      await retype("login-server", url);
    }
    await retype("login-user", username);
    await retype("login-password", password);
    await $("login-submit").click();
  }

  async function signOut() {
    await press($("logout"));
    const confirm = browser.$(".n-popconfirm__action .n-button--primary-type");
    await confirm.waitForClickable({ timeout: 5_000 });
    await confirm.click();
    await $("login-screen").waitForDisplayed({ timeout: 20_000 });
  }

  /** Signs in through the login form (signing out whoever a failed test left in). */
  async function signIn(url, username, { shotName = "failed-sign-in" } = {}) {
    if (await $("logout").isExisting()) await signOut();
    await login(url, username);
    try {
      await waitFor(`${username} signed in`, () => $("current-user").isExisting(), 30_000);
    } catch (error) {
      await app.screenshot(shotName);
      const said = await browser.execute(() => document.querySelector('[data-testid="login-error"]')?.innerText ?? "(no error shown)");
      throw new Error(`${error.message}; the login screen says: ${said}`);
    }
  }

  /** Until the sync engine is live (the first sync of a demo city can take a while). */
  async function waitOnline(timeout = 90_000) {
    try {
      await waitFor("online", async () => (await $("connection-state").getAttribute("data-state")) === "online", timeout);
    } catch (error) {
      await app.screenshot("failed-online");
      const state = await $("connection-state").getAttribute("data-state").catch(() => "(no indicator)");
      throw new Error(`${error.message}; the connection indicator says ${state}`);
    }
  }

  async function openLetter(id) {
    await waitFor(`row ${id}`, () => row(id).isExisting(), 30_000);
    await clickWhenFree(`row ${id}`, row(id));
    await waitFor("the letter", async () => (await $("letter-detail").getAttribute("data-letter")) === String(id));
    await waitFor("the letter's actions", () => $("detail-actions").isDisplayed());
  }

  /** Until `element` stands still: the same box 200 ms apart. */
  async function settled(what, element) {
    let box = "";
    await waitFor(`${what} to settle`, async () => {
      const now = JSON.stringify(
        await browser.execute((el) => {
          const r = el.getBoundingClientRect();
          return [r.x, r.y, r.width, r.height];
        }, element),
      );
      const still = now === box;
      box = now;
      return still;
    });
  }

  /** Takes action `kind` from the open letter: its button, `fill` in the dialog, submit. */
  async function act(kind, fill = async () => {}) {
    await waitFor(`the ${kind} button`, () => $(`action-${kind}`).isClickable());
    await clickWhenFree(`the ${kind} button`, $(`action-${kind}`));
    const dialog = browser.$(`[data-testid="action-dialog"][data-kind="${kind}"]`);
    await dialog.waitForDisplayed({ timeout: 10_000 });
    // The dialog scales in: a click while it still moves can land beside its target and
    // be lost (a checkbox left unticked). Wait until it stands still before filling it,
    // and again before submitting (a field shown by the filling can move the button).
    const submit = await dialog.$('[data-testid="action-submit"]');
    await settled(`the ${kind} dialog`, submit);
    await fill(dialog);
    await settled(`the ${kind} dialog`, submit);
    await clickWhenFree(`the ${kind} submit button`, submit);
    try {
      await waitFor(`the ${kind} dialog to close`, async () => !(await dialog.isExisting()) || !(await dialog.isDisplayed()));
    } catch (error) {
      await app.screenshot(`failed-${kind}`);
      throw new Error(`${error.message}; the dialog says: ${await dialog.getText()}`);
    }
  }

  /** Types into the textarea or input of a dialog's field. */
  async function type(dialog, testid, text) {
    const field = dialog.$(`[data-testid="${testid}"]`).$("textarea, input");
    await field.setValue(text);
  }

  /** Picks the option whose text starts with `label` in a Naive UI select of a dialog
   * (a unit's option reads "福田分局（分局）"). */
  async function choose(dialog, testid, label) {
    await press(dialog.$(`[data-testid="${testid}"]`));
    const option = browser.$(`//div[contains(@class,"n-base-select-option")][starts-with(normalize-space(.),"${label}")]`);
    await option.waitForDisplayed({ timeout: 10_000 });
    await press(option);
    // A multiple select keeps its menu open over the fields below: Tab moves on, and
    // the menu closes as the select loses focus.
    if (await option.isDisplayed().catch(() => false)) await browser.keys(["Tab"]);
  }

  /** The state the open letter shows (`state-tag`). */
  async function openState() {
    return $("letter-detail").$('[data-testid="state-tag"]').getAttribute("data-state");
  }

  return { browser, $, row, waitFor, textOf, retype, press, clickWhenFree, settled, login, signIn, signOut, waitOnline, openLetter, act, type, choose, openState };
}
