#!/usr/bin/env node
// UI benchmark (not a test): first paint of the inbox with 100 000 cached letters, and
// scrolling through them, in WebKitGTK (the engine the app runs in on Linux), driven by
// WebKitWebDriver through MiniBrowser under Xvfb.
//
//   node bench/inbox-bench.mjs [--letters 100000] [--runs 3]
//
// The UI is built with the mock backend (VITE_JSJB_MOCK=1, src/dev): it answers `inbox`
// pages from 100 000 letters held in memory, so the figures are the UI's own cost —
// IPC serialisation of a 200-row page, rendering, virtual scrolling — without SQLite.
// The cache's own query time at 100 000 letters is measured by crates/store/benches/inbox.rs.
// Target: first paint ≤ 300 ms; scrolling without long frames.
import { spawn, spawnSync } from "node:child_process";
import { createReadStream, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { createServer as netServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, extname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const UI = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const LETTERS = opt("letters", 100_000);
const RUNS = opt("runs", 3);
const MINIBROWSER = process.env.MINIBROWSER ?? "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const children = [];
process.on("exit", () => children.forEach((c) => c.exitCode === null && c.kill("SIGKILL")));

function freePort() {
  return new Promise((res, rej) => {
    const s = netServer();
    s.on("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

// 1. The UI with the mock backend.
const out = mkdtempSync(join(tmpdir(), "jsjb-bench-"));
const build = spawnSync("npx", ["vite", "build", "--outDir", out, "--logLevel", "error"], {
  cwd: UI,
  env: { ...process.env, VITE_JSJB_MOCK: "1" },
  stdio: "inherit",
});
if (build.status !== 0) process.exit(1);

// 2. Served over HTTP.
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".png": "image/png", ".svg": "image/svg+xml" };
const http = createServer((req, res) => {
  const path = new URL(req.url, "http://x").pathname;
  let file = join(out, path === "/" ? "index.html" : path);
  if (!existsSync(file) || statSync(file).isDirectory()) file = join(out, "index.html");
  res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" });
  createReadStream(file).pipe(res);
});
const httpPort = await freePort();
await new Promise((r) => http.listen(httpPort, "127.0.0.1", r));

// 3. A display and WebKitWebDriver.
let display = process.env.DISPLAY;
if (!display) {
  const xvfb = spawn("Xvfb", ["-displayfd", "3", "-screen", "0", "1366x768x24", "-nolisten", "tcp"], { stdio: ["ignore", "ignore", "ignore", "pipe"] });
  children.push(xvfb);
  display = await new Promise((res) => xvfb.stdio[3].once("data", (d) => res(`:${String(d).trim()}`)));
}
const wdPort = await freePort();
const wd = spawn("WebKitWebDriver", [`--port=${wdPort}`], { env: { ...process.env, DISPLAY: display }, stdio: "ignore" });
children.push(wd);
const W = `http://127.0.0.1:${wdPort}`;
for (let i = 0; i < 100; i++) {
  try {
    if ((await (await fetch(`${W}/status`)).json()).value?.ready) break;
  } catch {
    // not yet
  }
  await sleep(100);
}
const post = async (path, body) => {
  const res = await fetch(`${W}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const json = await res.json();
  if (!res.ok) throw new Error(`${path}: ${JSON.stringify(json.value)}`);
  return json.value;
};
const session = await post("/session", {
  capabilities: { alwaysMatch: { "webkitgtk:browserOptions": { binary: MINIBROWSER, args: ["--automation"] } } },
});
const sid = session.sessionId;
await post(`/session/${sid}/window/rect`, { width: 1366, height: 768 }).catch(() => {});
const execAsync = (script, argsList = []) => post(`/session/${sid}/execute/async`, { script, args: argsList });
const exec = (script, argsList = []) => post(`/session/${sid}/execute/sync`, { script, args: argsList });

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const firstPaints = [];
let scroll = null;
let jump = null;
for (let run = 0; run < RUNS; run++) {
  await post(`/session/${sid}/url`, { url: `http://127.0.0.1:${httpPort}/?letters=${LETTERS}&bench=1&r=${run}` });
  const paint = await execAsync(`
    const done = arguments[arguments.length - 1];
    const t0 = Date.now();
    (function poll() {
      const ready = performance.getEntriesByName("jsjb:backend-ready")[0];
      const painted = performance.getEntriesByName("jsjb:first-rows-painted")[0];
      if (ready && painted) return done({ ms: painted.startTime - ready.startTime, rows: document.querySelectorAll("[data-row]").length, total: document.querySelector('[data-testid="inbox-total"]')?.textContent });
      if (Date.now() - t0 > 60000) return done({ error: "no rows within 60 s" });
      setTimeout(poll, 20);
    })();`);
  if (paint.error) throw new Error(paint.error);
  firstPaints.push(paint.ms);
  console.log(`run ${run + 1}: first paint of the inbox ${paint.ms.toFixed(0)} ms (${paint.rows} rows on screen, ${paint.total})`);
}

// The display's own frame cadence, idle, for comparison.
const idle = await execAsync(`
  const done = arguments[arguments.length - 1];
  const frames = []; let last = 0, n = 0;
  function step(now) { if (last) frames.push(now - last); last = now; if (++n < 90) requestAnimationFrame(step); else done(frames); }
  requestAnimationFrame(step);`);

// Scrolling: 240 frames at a wheel's pace (240 px ≈ 4 rows a frame) and at a fling's
// (1 800 px ≈ 33 rows a frame), then a jump to the middle.
const scrollRun = (px) => execAsync(`
  const done = arguments[arguments.length - 1];
  const px = arguments[0];
  const el = document.querySelector(".vlist .v-vl");
  const frames = [];
  let last = performance.now(), n = 0, placeholders = 0;
  function step(now) {
    frames.push(now - last); last = now;
    el.scrollTop += px;
    placeholders += document.querySelectorAll(".placeholder").length;
    if (++n < 240) requestAnimationFrame(step);
    else done({ frames: frames.slice(2), placeholders, top: el.scrollTop });
  }
  requestAnimationFrame((t) => { last = t; requestAnimationFrame(step); });`, [px]);
const wheel = await scrollRun(240);
scroll = await scrollRun(1800);
jump = await execAsync(`
  const done = arguments[arguments.length - 1];
  const el = document.querySelector(".vlist .v-vl");
  let t0 = 0;
  el.addEventListener("scroll", () => requestAnimationFrame(poll), { once: true });
  t0 = performance.now();
  el.scrollTop = el.scrollHeight / 2;
  function poll() {
    const rows = document.querySelectorAll("[data-row]").length;
    if (rows > 0 && document.querySelectorAll(".placeholder").length === 0) return done({ ms: performance.now() - t0, rows });
    if (performance.now() - t0 > 10000) return done({ ms: -1 });
    requestAnimationFrame(poll);
  }`);
const memory = await exec("return performance.memory ? performance.memory.usedJSHeapSize : null");

const stats = (frames) => {
  const sorted = [...frames].sort((a, b) => a - b);
  const p = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return `${frames.length} frames, median ${p(0.5).toFixed(1)} ms, p95 ${p(0.95).toFixed(1)} ms, max ${sorted.at(-1).toFixed(1)} ms, ${frames.filter((f) => f > 50).length} over 50 ms`;
};
console.log("");
console.log(`letters                         ${LETTERS.toLocaleString("en")}`);
console.log(`first paint (median of ${RUNS})       ${median(firstPaints).toFixed(0)} ms   (target ≤ 300 ms: ${median(firstPaints) <= 300 ? "met" : "NOT met"})`);
console.log(`idle frames (no scrolling)      median ${median(idle).toFixed(1)} ms`);
console.log(`scroll, wheel (240 px/frame)    ${stats(wheel.frames)}`);
console.log(`scroll, fling (1800 px/frame)   ${stats(scroll.frames)}`);
console.log(`placeholder rows seen scrolling ${wheel.placeholders + scroll.placeholders} (row-frames still waiting for their page)`);
console.log(`jump to row ${Math.round(LETTERS / 2).toLocaleString("en")}         rows filled in ${jump.ms.toFixed(0)} ms`);
if (memory) console.log(`JS heap                         ${(memory / 1048576).toFixed(0)} MiB`);

await fetch(`${W}/session/${sid}`, { method: "DELETE" }).catch(() => {});
http.close();
rmSync(out, { recursive: true, force: true });
process.exit(0);
