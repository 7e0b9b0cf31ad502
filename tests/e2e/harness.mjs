// The end-to-end harness: starts what the real app needs (a display on Linux,
// tauri-driver → WebKitWebDriver / msedgedriver), opens a WebDriver session on the
// real binary and cleans everything up again — also when a test fails.
//
// A suite that needs the central server starts it first and passes its address to
// the app through `env`: every variable given to `launchApp({ env })` reaches the
// app's process (tauri-driver → WebKitWebDriver → app inherit the environment).
//
//   const server = await startServer();            // a later suite's helper
//   const app = await launchApp({ env: { JSJB_SERVER_URL: server.url } });
//
// Environment:
//   JSJB_APP_BINARY      the app to drive (default: <target>/debug/jsjb-desk, built with
//                        `cargo build --features custom-protocol` after `npm run build` in ui/)
//   CARGO_TARGET_DIR     honoured for the default binary path
//   TAURI_DRIVER         the tauri-driver executable (default: on PATH or ~/.cargo/bin)
//   DISPLAY              used as is when set; otherwise (Linux) the harness starts Xvfb
//   JSJB_E2E_ARTIFACTS   where screenshots go (default: tests/.artifacts)

import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { homedir, tmpdir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { remote } from "webdriverio";

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const ARTIFACTS = process.env.JSJB_E2E_ARTIFACTS ?? join(REPO, "tests", ".artifacts");
const EXE = process.platform === "win32" ? ".exe" : "";

/** The workspace version from the root Cargo.toml: what the app must report. */
export function workspaceVersion() {
  const toml = readFileSync(join(REPO, "Cargo.toml"), "utf8");
  const section = toml.split("[workspace.package]")[1] ?? "";
  const match = section.match(/^version\s*=\s*"([^"]+)"/m);
  if (!match) throw new Error("no version in [workspace.package] of Cargo.toml");
  return match[1];
}

export function appBinary() {
  if (process.env.JSJB_APP_BINARY) return resolve(process.env.JSJB_APP_BINARY);
  const target = process.env.CARGO_TARGET_DIR ?? join(REPO, "target");
  return join(isAbsolute(target) ? target : join(REPO, target), "debug", `jsjb-desk${EXE}`);
}

function tauriDriver() {
  if (process.env.TAURI_DRIVER) return process.env.TAURI_DRIVER;
  const cargoBin = join(process.env.CARGO_HOME ?? join(homedir(), ".cargo"), "bin", `tauri-driver${EXE}`);
  return existsSync(cargoBin) ? cargoBin : `tauri-driver${EXE}`;
}

function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Children started here, killed (with their process groups) on every way out. */
const children = new Set();

function track(child, name) {
  children.add(child);
  child.on("exit", () => children.delete(child));
  child.on("error", (error) => {
    children.delete(child);
    console.error(`[e2e] could not start ${name}: ${error.message}`);
  });
  return child;
}

function kill(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    // Detached children lead their own group: take WebKitWebDriver and the app along.
    if (process.platform !== "win32" && child.pid) process.kill(-child.pid, "SIGTERM");
    else child.kill();
  } catch {
    child.kill();
  }
}

function killAll() {
  for (const child of children) kill(child);
}
process.on("exit", killAll);
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}

/** Starts Xvfb (1366×768 unless told) on a free display number and returns ":N". */
async function startXvfb(screen = "1366x768x24") {
  const xvfb = track(
    spawn("Xvfb", ["-displayfd", "3", "-screen", "0", screen, "-nolisten", "tcp"], {
      stdio: ["ignore", "ignore", "pipe", "pipe"],
      detached: true,
    }),
    "Xvfb",
  );
  let stderr = "";
  xvfb.stderr.on("data", (d) => (stderr += d));
  const display = await new Promise((resolveDisplay, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`Xvfb did not start:\n${stderr}`)), 10_000);
    xvfb.stdio[3].on("data", (d) => {
      out += d;
      if (out.includes("\n")) {
        clearTimeout(timer);
        resolveDisplay(`:${out.trim()}`);
      }
    });
    xvfb.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`Xvfb exited with ${code}:\n${stderr}`));
    });
  });
  return { display, stop: () => kill(xvfb) };
}

async function waitForDriver(port, driver, log) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (driver.exitCode !== null) throw new Error(`tauri-driver exited early:\n${log()}`);
    try {
      // tauri-driver answers before WebKitWebDriver is up: wait for ready, not for the port.
      const res = await fetch(`http://127.0.0.1:${port}/status`);
      const body = await res.json();
      if (body?.value?.ready) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`tauri-driver was not ready within 30 s:\n${log()}`);
}

/**
 * The real app signed in to `serverUrl` as `username` at start (the demo's autologin),
 * with its caches in a fresh data folder and tokens in a file. `close()` ends the app
 * and removes the folder.
 * @param {string} serverUrl
 * @param {string} username
 * @param {string} password
 */
export async function launchSignedIn(serverUrl, username, password) {
  const dataDir = mkdtempSync(join(tmpdir(), "jsjb-e2e-app-"));
  const app = await launchApp({
    env: {
      JSJB_SERVER_URL: serverUrl,
      JSJB_AUTOLOGIN_USER: username,
      JSJB_AUTOLOGIN_PASSWORD: password,
      JSJB_DATA_DIR: dataDir,
      JSJB_KEYRING: "file",
    },
  });
  return {
    app,
    browser: app.browser,
    async close() {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Launches the real app under WebDriver. Returns `{ browser, sessionRequestedAt, screenshot, close }`.
 * `screen` sizes the Xvfb screen the harness starts (e.g. "1920x1080x24" for pictures
 * at that size); it is ignored when DISPLAY is already set.
 * @param {{ env?: Record<string, string>, screen?: string }} [options]
 */
export async function launchApp({ env = {}, screen } = {}) {
  const application = appBinary();
  if (!existsSync(application)) {
    throw new Error(
      `${application} does not exist — build it first: (cd ui && npm run build) && cargo build --features custom-protocol`,
    );
  }
  mkdirSync(ARTIFACTS, { recursive: true });

  let xvfb = null;
  const childEnv = { ...process.env, ...env };
  if (process.platform === "linux" && !process.env.DISPLAY) {
    xvfb = await startXvfb(screen);
    childEnv.DISPLAY = xvfb.display;
  }

  const port = await freePort();
  const nativePort = await freePort();
  const driver = track(
    spawn(tauriDriver(), ["--port", String(port), "--native-port", String(nativePort)], {
      env: childEnv,
      stdio: ["ignore", "pipe", "pipe"],
      detached: process.platform !== "win32",
    }),
    "tauri-driver",
  );
  let driverLog = "";
  driver.stdout.on("data", (d) => (driverLog += d));
  driver.stderr.on("data", (d) => (driverLog += d));

  const stopAll = () => {
    kill(driver);
    xvfb?.stop();
  };

  let browser;
  let sessionRequestedAt = 0;
  try {
    await waitForDriver(port, driver, () => driverLog);
    // The WebDriver session starts the app: the cold-start bench counts from here.
    sessionRequestedAt = Date.now();
    browser = await remote({
      hostname: "127.0.0.1",
      port,
      logLevel: "warn",
      connectionRetryCount: 0,
      capabilities: {
        // WebKitWebDriver speaks classic WebDriver only; WDIO 9 would ask for BiDi.
        "wdio:enforceWebDriverClassic": true,
        "tauri:options": { application },
      },
    });
  } catch (error) {
    stopAll();
    throw new Error(`could not open a WebDriver session on ${application}: ${error.message}\n${driverLog}`);
  }

  return {
    browser,
    /** When the session (and so the app's process) was asked for, in epoch ms. */
    sessionRequestedAt,
    /** Saves a PNG of the window into tests/.artifacts/<name>.png and returns its path. */
    async screenshot(name) {
      const path = join(ARTIFACTS, `${name}.png`);
      await browser.saveScreenshot(path);
      return path;
    },
    async close() {
      try {
        await browser.deleteSession();
      } catch {
        // the app may already be gone; the processes are killed below anyway
      }
      stopAll();
    },
    driverLog: () => driverLog,
  };
}
