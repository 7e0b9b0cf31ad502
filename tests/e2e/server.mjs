// The real central server for end-to-end suites: `jsjb-server demo` on a free port with
// a fresh database in a temporary folder, plus a few API calls a desk would make (type
// in a letter, dispatch it, decide an extension) so that a test can drive both sides.
//
//   const server = await startServer();        // seeded demo city, letters arriving
//   const desk = await server.api("futianfj.desk");
//   const { id } = await desk.postLetter({ subject: "…", body: "…" });
//   await desk.act(id, { action: "dispatch", to: await desk.unitId("福田派出所"), note: "" });
//   await server.stop(); await server.start();   // same port, same database
//
// Environment: JSJB_SERVER_BINARY or JSJB_SERVER_BIN (what `cargo xtask test` sets for
// tests/web); default <target>/debug/jsjb-server, built here with `cargo build -p
// jsjb-server` when it is missing.

import { spawn, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { REPO } from "./harness.mjs";

export const DEMO_PASSWORD = "jsjb-demo-2026";
const EXE = process.platform === "win32" ? ".exe" : "";

export function serverBinary() {
  const given = process.env.JSJB_SERVER_BINARY ?? process.env.JSJB_SERVER_BIN;
  if (given) return resolve(given);
  const target = process.env.CARGO_TARGET_DIR ?? join(REPO, "target");
  return join(isAbsolute(target) ? target : join(REPO, target), "debug", `jsjb-server${EXE}`);
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

/**
 * Starts `jsjb-server demo`. `arrivalSecs` 0 keeps the demo from adding letters of its
 * own (tests post theirs); `days`/`perDay` size the seeded history; `env` adds server
 * configuration (e.g. `JSJB_LOCKOUT_THRESHOLD`); `startSecs` is how long seeding may take
 * before the server answers.
 */
export async function startServer({ arrivalSecs = 0, days = 3, perDay = 6, env = {}, startSecs = 60 } = {}) {
  const binary = serverBinary();
  if (!existsSync(binary)) {
    const build = spawnSync("cargo", ["build", "-p", "jsjb-server"], { cwd: REPO, stdio: "inherit" });
    if (build.status !== 0 || !existsSync(binary)) {
      throw new Error(`${binary} does not exist and could not be built: cargo build -p jsjb-server`);
    }
  }
  const dir = mkdtempSync(join(tmpdir(), "jsjb-e2e-server-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let child = null;
  let log = "";

  async function start() {
    child = spawn(binary, ["demo", "--days", String(days), "--per-day", String(perDay)], {
      env: {
        ...process.env,
        JSJB_DB: join(dir, "server.sqlite"),
        JSJB_BLOB_DIR: join(dir, "blobs"),
        JSJB_LISTEN: `127.0.0.1:${port}`,
        JSJB_DEMO_ARRIVAL_SECS: String(arrivalSecs),
        // Demo passwords are hashed once per seed; keep argon2 light for tests.
        JSJB_ARGON2_MEMORY_KIB: process.env.JSJB_ARGON2_MEMORY_KIB ?? "1024",
        RUST_LOG: process.env.RUST_LOG ?? "warn",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.on("data", (d) => (log += d));
    child.stderr.on("data", (d) => (log += d));
    const deadline = Date.now() + startSecs * 1000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`jsjb-server exited with ${child.exitCode}:\n${log}`);
      try {
        const res = await fetch(`${url}/healthz`);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await sleep(150);
    }
    throw new Error(`jsjb-server did not answer within ${startSecs} s:\n${log}`);
  }

  async function stop() {
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
  }

  await start();
  process.on("exit", () => child?.exitCode === null && child.kill("SIGKILL"));

  return {
    url,
    dir,
    start,
    stop,
    log: () => log,
    async dispose() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
    /** An API client signed in as a demo user. */
    async api(username) {
      return apiClient(url, username);
    },
  };
}

async function apiClient(url, username) {
  const call = async (method, path, body, headers = {}) => {
    const res = await fetch(`${url}/api/v1${path}`, {
      method,
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const json = text ? JSON.parse(text) : null;
    if (!res.ok) throw new Error(`${method} ${path} → ${res.status}: ${text}`);
    return json;
  };
  let token = null;
  const login = await call("POST", "/auth/login", { username, password: DEMO_PASSWORD, workstation: "e2e" });
  token = login.token;
  const me = login.me;
  return {
    me,
    unitId(name) {
      const unit = me.units.find((u) => u.name === name);
      if (!unit) throw new Error(`no unit named ${name}`);
      return unit.id;
    },
    /** A letter typed in by the desk (it lands at the desk's unit, state received). */
    postLetter({ subject, body, category = "complaint", writerName = "张三丰", writerPhone = "13812345678", tags = [] }) {
      return call("POST", "/letters", {
        category,
        problem_tags: tags,
        subject,
        body,
        writer_name: writerName,
        writer_phone: writerPhone,
      });
    },
    letter(id) {
      return call("GET", `/letters/${id}`);
    },
    /** The handover acknowledgements of the user's unit, newest first. */
    handovers() {
      return call("GET", "/handovers");
    },
    /** Takes an action on the letter's current version. */
    async act(id, action) {
      const letter = await call("GET", `/letters/${id}`);
      return call("POST", `/letters/${id}/actions`, { expected_version: letter.version, action }, { "Idempotency-Key": randomUUID() });
    },
  };
}
