// The mock backend and the UI's command wrappers against the commands the app really
// registers: the `tauri::generate_handler![…]` list of src-tauri/src. A name the mock
// answers or the UI invokes that the app lacks fails here, not in front of an officer;
// a new real command fails here until it is mocked or listed in NOT_MOCKED.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { HandoverReport, StatsReport } from "../ipc";
import { createMockBackend } from "./mockBackend";

// A string, not `new URL(…)`: under happy-dom `URL` is the page's, which node:url refuses.
const SRC = join(dirname(fileURLToPath(import.meta.url)), "..");
const RUST_SRC = join(SRC, "..", "..", "src-tauri", "src");

/** Real commands the mock deliberately does not answer (it throws "Command x not found"):
 * the sign-off (keys and PINs live in Rust) and the admin console's writes. */
const NOT_MOCKED = [
  "signing_key_status",
  "enrol_signing_key",
  "signoff_preview",
  "sign_feedback_form",
  "signed_form_status",
  "export_signed_form",
  "approve_signing_key",
  "revoke_signing_key",
  "create_user",
  "set_user_active",
  "reset_user_password",
  "create_unit",
  "rename_unit",
  "move_unit",
  "set_unit_active",
  "revoke_user_sessions",
  "save_routing_rules",
  "test_routing_rules",
  "update_user",
  "grant_delegation",
  "revoke_delegation",
];

function files(dir: string, ext: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(ext))
    .map((e) => join(e.parentPath, e.name));
}

/** The command names of every `generate_handler![…]` (a path's last segment is the name). */
function registeredCommands(rustSources: string[]): string[] {
  const names: string[] = [];
  for (const source of rustSources) {
    for (const m of source.matchAll(/generate_handler!\s*\[([^\]]*)\]/g)) {
      for (const entry of (m[1] ?? "").split(",")) {
        const path = entry.replace(/\/\/.*$/gm, "").trim();
        if (path) names.push(path.split("::").pop() as string);
      }
    }
  }
  return names;
}

/** The commands `handle` answers: its `case "x":` labels, up to `default:`. */
function mockedCommands(source: string): string[] {
  const start = source.indexOf("function handle(");
  const end = source.indexOf("default:", start);
  if (start < 0 || end < 0) throw new Error("mockBackend.ts: no `function handle(` … `default:`");
  return [...source.slice(start, end).matchAll(/case "([a-z_]+)":/g)].map((m) => m[1] as string);
}

/** The command names passed to `call(…)` / `invoke(…)` in the UI's sources. */
function invokedCommands(source: string): string[] {
  return [...source.matchAll(/\b(?:call|invoke)\s*(?:<[^(]*>)?\(\s*"([a-z_]+)"/g)].map((m) => m[1] as string);
}

const real = registeredCommands(files(RUST_SRC, ".rs").map((f) => readFileSync(f, "utf8")));
const mocked = mockedCommands(readFileSync(join(SRC, "dev", "mockBackend.ts"), "utf8"));
/** Every UI file that imports `invoke` is a wrapper layer (ipc/, and features' api.ts). */
const wrappers = files(SRC, ".ts")
  .filter((f) => !f.endsWith(".test.ts") && !f.includes(join("ipc", "bindings")))
  .map((f) => ({ file: relative(SRC, f), source: readFileSync(f, "utf8") }))
  .filter((w) => /import\s*\{[^}]*\binvoke\b[^}]*\}\s*from\s*"@tauri-apps\/api\/core"/.test(w.source));
const invoked = wrappers.flatMap((w) => invokedCommands(w.source));

const missingFrom = (names: string[], list: string[]) => [...new Set(names.filter((n) => !list.includes(n)))].sort();

describe("the mock backend and the UI's commands against the app's real command list", () => {
  it("reads the real list from generate_handler!", () => {
    expect(real.length).toBeGreaterThan(30);
    expect(real).toContain("statistics");
    expect(new Set(real).size).toBe(real.length);
  });

  it("every command the mock answers is a real command", () => {
    expect(missingFrom(mocked, real), "answered by the mock, not registered by the app").toEqual([]);
  });

  it("every real command is mocked or deliberately listed as not mocked", () => {
    const unaccounted = real.filter((n) => !mocked.includes(n) && !NOT_MOCKED.includes(n));
    expect(unaccounted, "registered by the app: mock it or add it to NOT_MOCKED").toEqual([]);
    expect(missingFrom(NOT_MOCKED, real), "in NOT_MOCKED but not a real command").toEqual([]);
    expect(NOT_MOCKED.filter((n) => mocked.includes(n)), "in NOT_MOCKED but mocked").toEqual([]);
  });

  it("every command the UI invokes is a real command", () => {
    expect(wrappers.map((w) => w.file).sort()).toEqual(
      [join("features", "admin", "api.ts"), join("features", "signoff", "api.ts"), join("ipc", "index.ts")].sort(),
    );
    // Every call site was read: a name the pattern missed would go unchecked. Each file
    // defines `call<T>(command, …)` once, which names no command.
    for (const w of wrappers) {
      const sites = [...w.source.matchAll(/\bcall\s*(?:<[^(]*>)?\(/g)].length - 1;
      expect(invokedCommands(w.source).length, w.file).toBe(sites);
    }
    expect(invoked.length).toBeGreaterThan(30);
    expect(missingFrom(invoked, real), "invoked by the UI, not registered by the app").toEqual([]);
  });
});

describe("the mock's statistics and handover (what the screens show in development)", () => {
  const backend = createMockBackend({ letters: 80, nowMs: Date.parse("2026-11-28T04:00:00Z") });

  it("counts the period's letters, and each rate's numerator stays within its denominator", () => {
    const report = backend.handle("statistics", { from: "2026-10-01T00:00:00Z", to: "2026-12-01T00:00:00Z" }) as StatsReport;
    expect(report.letters).toBe(80);
    expect(report.by_category.reduce((s, c) => s + c.count, 0)).toBe(80);
    for (const u of [...report.units, ...report.officers]) {
      expect(u.signed_on_time).toBeLessThanOrEqual(u.dispatched);
      expect(u.closed_on_time).toBeLessThanOrEqual(u.due);
      expect(u.satisfied).toBeLessThanOrEqual(u.visits);
    }
    const empty = backend.handle("statistics", { from: "2020-01-01T00:00:00Z", to: "2020-02-01T00:00:00Z" }) as StatsReport;
    expect(empty.letters).toBe(0);
    expect(empty.units).toEqual([]);
  });

  it("lists the unit's open letters and records an acknowledgement", () => {
    const before = backend.handle("handover") as HandoverReport;
    expect(before.items.length).toBeGreaterThan(0);
    expect(before.last_acknowledged_at).toBeNull();
    // The lists come in the screen's order, each kind together.
    const order = ["not_signed_for", "not_contacted", "chased", "overdue", "about_to_breach", "promised_callback"];
    const kinds = before.items.map((i) => order.indexOf(i.kind));
    expect(kinds).toEqual([...kinds].sort((a, b) => a - b));
    expect(kinds).not.toContain(-1);
    const first = before.items[0]?.letter_id;
    backend.handle("acknowledge_handover", { note: "注意 SZ 回访", handedOverBy: 21, checkedIds: [first, 99_999] });
    const after = backend.handle("handover") as HandoverReport;
    expect(after.last_acknowledged_by).toBe("刘瑞峰");
    const ack = after.acknowledgements[0];
    expect(ack?.note).toBe("注意 SZ 回访");
    expect([ack?.handed_over_by, ack?.handed_over_by_name]).toEqual([21, "黄思远"]);
    expect([ack?.checked, ack?.listed]).toEqual([1, new Set(before.items.map((i) => i.letter_id)).size]);
  });
});
