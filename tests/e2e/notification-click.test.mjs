// A click on the OS notification opens the letter it announced (issue 13 item 2), on
// Linux, through the real D-Bus path: a private session bus (dbus-daemon) with a
// stand-in notification server (notification-server.py, Gio) that records what the app
// shows and clicks it as a user would (ActionInvoked "default"). The app reaches the
// bus through DBUS_SESSION_BUS_ADDRESS, like any desktop program; nothing in the app is
// special for the test.
//
// Needs Debian's dbus-daemon and python3-gi (`cargo xtask setup` installs both).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { launchApp } from "./harness.mjs";
import { DEMO_PASSWORD, startServer } from "./server.mjs";
import { appUi } from "./ui.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const linux = process.platform === "linux";

/** Lines of a child's stdout, as they come; `next(match)` waits for one that matches. */
function lines(child, what) {
  const seen = [];
  const waiters = [];
  let buffer = "";
  let log = "";
  child.stdout.on("data", (d) => {
    buffer += d;
    let cut;
    while ((cut = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 1);
      seen.push(line);
      for (const w of [...waiters]) w();
    }
  });
  child.stderr.on("data", (d) => (log += d));
  return {
    seen,
    next(match, timeout = 30_000) {
      return new Promise((resolve, reject) => {
        let from = 0;
        const check = () => {
          for (; from < seen.length; from++) {
            const found = match(seen[from]);
            if (found) {
              waiters.splice(waiters.indexOf(check), 1);
              clearTimeout(timer);
              resolve(found);
              return;
            }
          }
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(check), 1);
          reject(new Error(`timed out waiting for ${what}: ${seen.join("\n")}\n${log}`));
        }, timeout);
        waiters.push(check);
        check();
      });
    },
  };
}

const json = (line) => {
  try {
    return JSON.parse(line);
  } catch {
    return null;
  }
};

describe("a click on the OS notification (Linux, Freedesktop notifications over D-Bus)", { skip: !linux && "Linux only" }, () => {
  let server;
  let bus;
  let notifications;
  let records;
  let app;
  let ui;
  let dir;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "jsjb-e2e-notify-"));
    bus = spawn("dbus-daemon", ["--session", "--nofork", "--print-address=1", `--address=unix:path=${join(dir, "bus")}`], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const address = await lines(bus, "the session bus's address").next((l) => l.startsWith("unix:") && l);
    notifications = spawn("/usr/bin/python3", [join(here, "notification-server.py")], {
      env: { ...process.env, DBUS_SESSION_BUS_ADDRESS: address },
      stdio: ["pipe", "pipe", "pipe"],
    });
    records = lines(notifications, "the notification server");
    await records.next((l) => json(l)?.event === "ready");

    server = await startServer();
    app = await launchApp({
      screen: "1366x768x24",
      env: {
        DBUS_SESSION_BUS_ADDRESS: address,
        JSJB_SERVER_URL: server.url,
        JSJB_AUTOLOGIN_USER: "futian.liu",
        JSJB_AUTOLOGIN_PASSWORD: DEMO_PASSWORD,
        JSJB_DATA_DIR: join(dir, "app"),
        JSJB_KEYRING: "file",
      },
    });
    ui = appUi(app);
  });

  after(async () => {
    await app?.close();
    await server?.dispose();
    notifications?.kill("SIGTERM");
    bus?.kill("SIGTERM");
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("shows the arrival with a default action, and the click opens that letter", async () => {
    await ui.$("inbox-screen").waitForDisplayed({ timeout: 30_000 });
    await ui.waitOnline();
    // Away from the letter: on the statistics screen, nothing open.
    await ui.press(ui.$("nav-stats"));
    await ui.waitFor("the statistics screen", async () => !(await ui.$("inbox-screen").isExisting()));

    const desk = await server.api("futianfj.desk");
    const { id } = await desk.postLetter({ subject: "深夜广场舞音响扰民", body: "每晚十点后广场舞音响很大。" });
    const already = records.seen.length;
    await desk.act(id, { action: "dispatch", to: desk.unitId("福田派出所"), note: "请核实处理" });
    // The notification the arrival raised (the ones before it were sign-in's).
    const shown = await records.next((l) => {
      const r = json(l);
      return r?.event === "notify" && records.seen.indexOf(l) >= already ? r : null;
    });
    assert.equal(shown.summary, "接诉即办工作台");
    assert.match(shown.body, /签收/);
    // The default action (the click on the notification itself) and its label.
    assert.equal(shown.actions[0], "default");
    assert.equal(shown.actions.length, 2);
    await app.screenshot("notification-before-click");

    notifications.stdin.write(`invoke ${shown.id} default\n`);
    await records.next((l) => json(l)?.event === "invoked" && json(l).id === shown.id);
    // The window comes forward on the inbox with that letter open.
    await ui.$("inbox-screen").waitForDisplayed({ timeout: 20_000 });
    await ui.waitFor("the announced letter open", async () => (await ui.$("letter-detail").getAttribute("data-letter")) === String(id), 20_000);
    await app.screenshot("notification-clicked");
  });
});
