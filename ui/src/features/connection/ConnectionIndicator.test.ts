import { mount } from "@vue/test-utils";
import { describe, expect, it } from "vitest";
import { createAppI18n } from "../../i18n";
import type { SyncStatus } from "../../ipc";
import ConnectionIndicator from "./ConnectionIndicator.vue";

const status = (overrides: Partial<SyncStatus>): SyncStatus => ({
  state: { kind: "syncing" },
  live: false,
  last_synced_at: "2026-12-07T08:00:00Z",
  pending_actions: 0,
  failed_actions: 0,
  clock_offset_ms: 0,
  last_error_code: null,
  audit_alarm: null,
  catch_up_percent: null,
  ...overrides,
});

const label = (sync: SyncStatus) =>
  mount(ConnectionIndicator, { props: { connection: null, sync }, global: { plugins: [createAppI18n()] } }).text();

describe("ConnectionIndicator", () => {
  it("says how far a long pull has come, and nothing more once caught up", () => {
    expect(label(status({ catch_up_percent: 43 }))).toBe("同步中 43%");
    expect(label(status({ catch_up_percent: 0 }))).toBe("同步中 0%");
    expect(label(status({}))).toBe("同步中");
    expect(label(status({ state: { kind: "online" }, live: true }))).not.toContain("%");
  });
});
