#!/usr/bin/env node
// The desktop as an officer runs it, measured (a benchmark, not a test; issue 15 items 2,
// 4 and 6): the real release app, a real release server on a real port with N letters
// of the demo city's history, a city desk (shiju.li, who sees every letter) and its real
// cache. Driven through tauri-driver like the end-to-end suite; run it with
//
//   cargo xtask bench desk [--letters 100000] [--runs 3] [--idle 20] [--server URL]
//
// (which builds the release UI, app, bare window and server first). It prints:
//  1. the first sign-in: launch → inbox painted (target ≤ 2 s) → cache caught up;
//  2. cold start of a signed-in desktop (resumes its session, 100k letters cached):
//     launch → inbox painted (target ≤ 1.5 s), per run;
//  3. the UI's inbox queries through the real `inbox`/`statistics`/`handover` commands,
//     timed in the page (IPC + store + JSON), p50/p95 of 30 each;
//  4. scrolling and a jump to the middle in the real inbox;
//  5. idle memory: PSS summed over the process and its WebKit children, of the app with
//     the cache and of a bare Tauri 2 window (src-tauri/examples/bare_window.rs), in the
//     same run, alternating, and their ratio (target ≤ 1.15).
//
// Environment: JSJB_APP_BINARY, JSJB_SERVER_BINARY (release builds), JSJB_BARE_WINDOW.
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchApp } from "../e2e/harness.mjs";
import { DEMO_PASSWORD, startServer } from "../e2e/server.mjs";

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const LETTERS = opt("letters", 100_000);
const RUNS = opt("runs", 3);
const IDLE_SECS = opt("idle", 20);
// The demo seeds at most 500 letters a day: 100,000 letters are 200 days of a city's
// history (most of them closed, as in a desk's real cache).
const PER_DAY = 500;
const DAYS = Math.max(30, Math.ceil(LETTERS / PER_DAY));
const BARE = process.env.JSJB_BARE_WINDOW;
if (!process.env.JSJB_APP_BINARY || !process.env.JSJB_SERVER_BINARY || !BARE) {
  console.error("set JSJB_APP_BINARY, JSJB_SERVER_BINARY and JSJB_BARE_WINDOW (cargo xtask bench desk does)");
  process.exit(2);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sorted = (xs) => [...xs].sort((a, b) => a - b);
const pct = (xs, q) => sorted(xs)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const spread = (xs, unit, digits = 0) => {
  const s = sorted(xs);
  return `min ${s[0].toFixed(digits)} ${unit}  median ${s[Math.floor(s.length / 2)].toFixed(digits)} ${unit}  max ${s.at(-1).toFixed(digits)} ${unit}`;
};
const children = new Set();
process.on("exit", () => children.forEach((c) => c.exitCode === null && c.kill("SIGKILL")));

// One display for everything, so that the direct launches (memory) and the WebDriver ones
// share it.
if (!process.env.DISPLAY) {
  const xvfb = spawn("Xvfb", ["-displayfd", "3", "-screen", "0", "1366x768x24", "-nolisten", "tcp"], {
    stdio: ["ignore", "ignore", "ignore", "pipe"],
  });
  children.add(xvfb);
  process.env.DISPLAY = await new Promise((res) => xvfb.stdio[3].once("data", (d) => res(`:${String(d).trim()}`)));
}

// ---- the server, seeded with the demo city's history -------------------------------
// `--server URL` uses a demo server already seeded (`jsjb-server demo --days 200
// --per-day 500`), to measure the desktop again without seeding for minutes.
const given = args.includes("--server") ? args[args.indexOf("--server") + 1] : null;
const seedStart = Date.now();
const server = given ? { url: given, dispose: async () => {} } : await startServer({
  arrivalSecs: 0,
  days: DAYS,
  perDay: Math.min(PER_DAY, Math.ceil(LETTERS / DAYS)),
  // A real server's password hashing, so that the first sign-in costs what it costs.
  // No notices to writers: reading a million seeded changes for them would run beside
  // the figures this bench takes (they are sent off every request path).
  env: { JSJB_ARGON2_MEMORY_KIB: "19456", RUST_LOG: "warn", JSJB_NOTICE_POLL_SECS: "0" },
  startSecs: 1800,
});
if (!given) console.log(`server seeded with the demo city's history in ${((Date.now() - seedStart) / 1000).toFixed(0)} s`);
const dataDir = mkdtempSync(join(tmpdir(), "jsjb-bench-desk-"));
const appEnv = { JSJB_SERVER_URL: server.url, JSJB_DATA_DIR: dataDir, JSJB_KEYRING: "file", RUST_LOG: "warn" };

/** Epoch ms at which the page marked `name`, waiting up to `timeoutMs`. */
async function markAt(browser, name, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const at = await browser.execute((mark) => {
      const entry = performance.getEntriesByName(mark)[0];
      const origin = performance.timeOrigin || Date.now() - performance.now();
      return entry ? origin + entry.startTime : null;
    }, name);
    if (at) return at;
    await sleep(50);
  }
  throw new Error(`no ${name} within ${timeoutMs / 1000} s`);
}

/** Calls a real Tauri command from the page, as the UI does. */
const invoke = (browser, cmd, cmdArgs) =>
  browser.executeAsync(
    (c, a, done) => {
      window.__TAURI_INTERNALS__.invoke(c, a).then(
        (value) => done({ value }),
        (error) => done({ error: JSON.stringify(error) }),
      );
    },
    cmd,
    cmdArgs,
  );

const QUERY = {
  states: [],
  bands: [],
  categories: [],
  channels: [],
  handler: null,
  unit: null,
  supervisor: null,
  extension_pending: false,
  extended: false,
  visit_due: false,
  text: null,
  offset: 0,
  limit: 200,
};

async function inboxTotal(browser) {
  const answer = await invoke(browser, "inbox", { query: { ...QUERY, limit: 1 } });
  if (answer.error) throw new Error(`inbox: ${answer.error}`);
  return answer.value.page.total;
}

// ---- 1. the first sign-in ----------------------------------------------------------
let total = 0;
{
  const app = await launchApp({ env: { ...appEnv, JSJB_AUTOLOGIN_USER: "shiju.li", JSJB_AUTOLOGIN_PASSWORD: DEMO_PASSWORD } });
  try {
    const painted = await markAt(app.browser, "jsjb:inbox-painted");
    // What the desk sees while the rest arrives (tests/.artifacts).
    await app.screenshot("bench-desk-first-sync");
    // Caught up: online, and the count has not moved for a second.
    let last = -1;
    let still = 0;
    let caughtUpAt = 0;
    const deadline = Date.now() + 600_000;
    while (Date.now() < deadline) {
      const status = await invoke(app.browser, "sync_status", {});
      total = await inboxTotal(app.browser);
      if (status.value?.state.kind === "online" && total === last && total > 0) {
        if (++still >= 5) break;
      } else {
        still = 0;
        caughtUpAt = Date.now();
      }
      last = total;
      await sleep(200);
    }
    console.log("");
    console.log(`1. first sign-in of the city desk (${total.toLocaleString("en")} letters in scope)`);
    console.log(`   launch → inbox painted      ${((painted - app.sessionRequestedAt) / 1000).toFixed(2)} s   (target ≤ 2 s)`);
    console.log(`   launch → every letter cached     ${((caughtUpAt - app.sessionRequestedAt) / 1000).toFixed(1)} s`);
  } finally {
    await app.close();
  }
}

// ---- 2. cold start, 3. queries, 4. scrolling ---------------------------------------
const coldStarts = [];
const timings = {};
let scroll = null;
for (let run = 0; run < RUNS; run++) {
  const app = await launchApp({ env: appEnv });
  try {
    const painted = await markAt(app.browser, "jsjb:inbox-painted");
    coldStarts.push(painted - app.sessionRequestedAt);
    if (run < RUNS - 1) continue;
    // The last run: the queries and scrolling, on the warmed-up app, in 来信 (every
    // letter: the desk's first screen, 待派发, may hold none).
    await (await app.browser.$('[data-testid="nav-inbox"]')).click();
    await app.browser.waitUntil(async () => (await app.browser.$$("[data-row]")).length > 0, { timeout: 30_000 });
    const now = Date.now();
    const day = 86_400_000;
    const queries = {
      "first page (200 rows)": ["inbox", { query: QUERY }],
      "page at the middle": ["inbox", { query: { ...QUERY, offset: Math.floor(total / 2) } }],
      "filter by band overdue": ["inbox", { query: { ...QUERY, bands: ["overdue"] } }],
      "filter by band warning": ["inbox", { query: { ...QUERY, bands: ["warning"] } }],
      "search 夜间噪音 (4 chars)": ["inbox", { query: { ...QUERY, text: "夜间噪音" } }],
      "search 噪音 (2 chars)": ["inbox", { query: { ...QUERY, text: "噪音" } }],
      "search 诈 (1 char)": ["inbox", { query: { ...QUERY, text: "诈" } }],
      "statistics, 30 days": ["statistics", { from: new Date(now - 30 * day).toISOString(), to: new Date(now).toISOString() }],
      "handover": ["handover", {}],
    };
    for (const [label, [cmd, cmdArgs]] of Object.entries(queries)) {
      const ms = await app.browser.executeAsync(
        async (c, a, n, done) => {
          const out = [];
          for (let i = 0; i < n; i++) {
            const t0 = performance.now();
            try {
              await window.__TAURI_INTERNALS__.invoke(c, a);
            } catch (error) {
              return done({ error: JSON.stringify(error) });
            }
            out.push(performance.now() - t0);
          }
          done({ out });
        },
        cmd,
        cmdArgs,
        30,
      );
      if (ms.error) throw new Error(`${label}: ${ms.error}`);
      timings[label] = ms.out;
    }
    scroll = await scrolling(app.browser);
    await app.screenshot("bench-desk-inbox");
  } finally {
    await app.close();
  }
}

async function scrolling(browser) {
  const run = (px) =>
    browser.executeAsync((step, done) => {
      const el = document.querySelector(".vlist .v-vl");
      if (!el) return done({ error: "no .vlist .v-vl" });
      const frames = [];
      let last = performance.now();
      let n = 0;
      let placeholders = 0;
      function frame(now) {
        frames.push(now - last);
        last = now;
        el.scrollTop += step;
        placeholders += document.querySelectorAll(".placeholder").length;
        if (++n < 240) requestAnimationFrame(frame);
        else done({ frames: frames.slice(2), placeholders });
      }
      requestAnimationFrame((t) => {
        last = t;
        requestAnimationFrame(frame);
      });
    }, px);
  const wheel = await run(240);
  const fling = await run(1800);
  const jump = await browser.executeAsync((done) => {
    const el = document.querySelector(".vlist .v-vl");
    const t0 = performance.now();
    el.scrollTop = el.scrollHeight / 2;
    function poll() {
      const rows = document.querySelectorAll("[data-row]").length;
      if (rows > 0 && document.querySelectorAll(".placeholder").length === 0) return done(performance.now() - t0);
      if (performance.now() - t0 > 10_000) return done(-1);
      requestAnimationFrame(poll);
    }
    requestAnimationFrame(poll);
  });
  if (wheel.error || fling.error) throw new Error(wheel.error ?? fling.error);
  return { wheel, fling, jump };
}

// ---- 5. idle memory ----------------------------------------------------------------
/** The pid and every descendant of it (WebKit's web and network processes, bwrap). */
function processTree(root) {
  const parent = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      parent.set(Number(entry), Number(fields[1]));
    } catch {
      // gone meanwhile
    }
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) {
    for (const [pid, ppid] of parent) if (ppid === tree[i]) tree.push(pid);
  }
  return tree;
}

/** PSS in KiB of the tree of `root`: the sum, and by process name. */
function pssKiB(root) {
  let sum = 0;
  const byName = {};
  for (const pid of processTree(root)) {
    try {
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
      const kib = Number(rollup.match(/^Pss:\s+(\d+) kB/m)?.[1] ?? 0);
      const name = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
      sum += kib;
      byName[name] = (byName[name] ?? 0) + kib;
    } catch {
      // gone meanwhile
    }
  }
  return { sum, byName };
}

/** Starts `binary`, lets it settle for IDLE_SECS, and returns its tree's PSS in MiB. */
async function idlePss(binary, env) {
  const child = spawn(binary, [], { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
  children.add(child);
  let stderr = "";
  child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  await sleep(IDLE_SECS * 1000);
  if (child.exitCode !== null || child.signalCode !== null) {
    throw new Error(`${binary} exited (${child.exitCode ?? child.signalCode}) before it was measured:\n${stderr}`);
  }
  const samples = [];
  let byName = {};
  for (let i = 0; i < 5; i++) {
    const pss = pssKiB(child.pid);
    samples.push(pss.sum / 1024);
    byName = pss.byName;
    await sleep(1000);
  }
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await Promise.race([exited, sleep(5000)]);
  if (child.exitCode === null) child.kill("SIGKILL");
  children.delete(child);
  await sleep(1000);
  return { pss: pct(samples, 0.5), byName };
}

const appMemory = [];
const bareMemory = [];
let appParts = {};
let bareParts = {};
for (let run = 0; run < RUNS; run++) {
  const bare = await idlePss(BARE, {});
  const desk = await idlePss(process.env.JSJB_APP_BINARY, appEnv);
  bareMemory.push(bare.pss);
  appMemory.push(desk.pss);
  [bareParts, appParts] = [bare.byName, desk.byName];
}
const parts = (byName) =>
  Object.entries(byName)
    .sort((a, b) => b[1] - a[1])
    .map(([name, kib]) => `${name} ${(kib / 1024).toFixed(0)}`)
    .join(", ");

// ---- the figures -------------------------------------------------------------------
console.log("");
console.log(`2. cold start, signed in, ${total.toLocaleString("en")} letters cached (launch → inbox painted)`);
console.log(`   ${spread(coldStarts.map((ms) => ms / 1000), "s", 2)}   (target ≤ 1.5 s)`);
console.log("");
console.log("3. the UI's queries through the real commands (30 each, in the page)");
// Column widths by what the terminal shows: a Chinese character takes two columns.
const width = (text) => [...text].reduce((w, c) => w + (c.codePointAt(0) > 0x2e7f ? 2 : 1), 0);
const pad = (text, n) => text + " ".repeat(Math.max(0, n - width(text)));
for (const [label, ms] of Object.entries(timings)) {
  const mean = ms.reduce((a, b) => a + b, 0) / ms.length;
  console.log(
    `   ${pad(label, 30)} p50 ${pct(ms, 0.5).toFixed(1).padStart(6)} ms   p95 ${pct(ms, 0.95).toFixed(1).padStart(6)} ms   mean ${mean.toFixed(2).padStart(7)} ms`,
  );
}
console.log("   (WebKit's performance.now() counts whole milliseconds: the mean of 30 is the finer figure)");
const frames = (f) => `median ${pct(f, 0.5).toFixed(1)} ms, p95 ${pct(f, 0.95).toFixed(1)} ms, max ${sorted(f).at(-1).toFixed(1)} ms, ${f.filter((x) => x > 50).length} over 50 ms`;
console.log("");
console.log("4. scrolling the real inbox");
console.log(`   wheel (240 px/frame)        ${frames(scroll.wheel.frames)}`);
console.log(`   fling (1800 px/frame)       ${frames(scroll.fling.frames)}`);
console.log(`   placeholder row-frames      ${scroll.wheel.placeholders + scroll.fling.placeholders}`);
console.log(`   jump to the middle          rows filled in ${scroll.jump.toFixed(0)} ms`);
console.log("");
console.log(`5. idle memory after ${IDLE_SECS} s (PSS of the process and its children)`);
console.log(`   bare Tauri 2 window          ${spread(bareMemory, "MiB")}`);
console.log(`   ${pad(`the app, ${total.toLocaleString("en")} letters`, 28)} ${spread(appMemory, "MiB")}`);
console.log(`   by process (MiB, last run)   bare: ${parts(bareParts)}`);
console.log(`                                app: ${parts(appParts)}`);
const ratios = appMemory.map((m, i) => m / bareMemory[i]);
console.log(`   ratio app / bare             ${spread(ratios, "×", 2)}   (target ≤ 1.15)`);
console.log(`   machine load                 ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`);

await server.dispose();
rmSync(dataDir, { recursive: true, force: true });
process.exit(0);
