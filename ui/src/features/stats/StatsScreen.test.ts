// The statistics screen against the mock backend: online it shows the server's report
// (its figures, the ranking, the server's exports) and says so; offline it shows the
// workstation's estimate under a 离线估算 label and exports that, named as an estimate.
import { clearMocks } from "@tauri-apps/api/mocks";
import type { VueWrapper } from "@vue/test-utils";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { resetAppState, setView } from "../../app/state";
import { installMockApp, mountApp, settle, type Call } from "../../dev/testApp";
import { rate } from "../../domain/letters";
import type { StatsView } from "../../ipc";

// jsdom has no canvas for ECharts: the charts are stood in for by an element carrying
// their options (the figures and tables are what is checked here).
vi.mock("vue-echarts", async () => {
  const { defineComponent, h } = await import("vue");
  return {
    default: defineComponent({
      props: { option: { type: Object, default: null } },
      setup: (props) => () => h("div", { class: "chart-stub", "data-series": JSON.stringify(props.option?.series ?? []) }),
    }),
  };
});

const calls: Call[] = [];
const NOW = Date.parse("2026-11-28T04:00:00Z");

async function openStats(offline: boolean): Promise<{ wrapper: VueWrapper; view: StatsView }> {
  const backend = installMockApp({ letters: 80, nowMs: NOW, offline }, calls);
  const wrapper = await mountApp();
  setView("stats");
  // The screen is loaded on demand (an async component, with ECharts): wait for its
  // first question. Loading it takes over a second on a busy CI machine, so the wait is
  // longer than vitest's default of one second.
  const asked = await vi.waitFor(
    () => {
      const c = calls.find((x) => x.cmd === "stats_view");
      if (!c) throw new Error("the screen has not asked for its figures yet");
      return c;
    },
    { timeout: 15_000 },
  );
  await settle(10);
  const view = backend.handle("stats_view", asked.args) as StatsView;
  return { wrapper, view };
}

beforeEach(() => {
  localStorage.clear();
  resetAppState();
  calls.length = 0;
});

afterEach(() => {
  clearMocks();
  document.body.innerHTML = "";
});

// Each case may wait for the screen's code to load (see openStats): more than vitest's
// five seconds on a busy machine.
describe("the statistics screen", () => {
  it("shows the server's report when online, with its ranking and the server's exports", async () => {
    const { wrapper, view } = await openStats(false);
    expect(view.source).toBe("server");
    const source = wrapper.get('[data-testid="stats-source"]');
    expect(source.attributes("data-source")).toBe("server");
    expect(source.text()).toContain("服务器统计");
    expect(wrapper.find('[data-testid="stats-offline"]').exists()).toBe(false);
    expect(wrapper.text()).not.toContain("离线估算");

    const total = view.server?.total;
    expect(total && total.dispatched > 0).toBe(true);
    expect(wrapper.get('[data-testid="rate-response"]').text()).toBe(rate(total?.signed_on_time ?? 0, total?.dispatched ?? 0));
    expect(wrapper.get('[data-testid="stats-letters"]').text()).toBe(String(view.server?.letters));
    // A station has no units below it to rank (the branch's ranking is in the e2e screens).
    expect(view.server?.ranking).toEqual([]);
    expect(wrapper.find('[data-testid="stats-ranking"]').exists()).toBe(false);
    expect(wrapper.find('[data-testid="stats-hotspots"]').exists()).toBe(true);
    // The trend is the three rates, week by week.
    const trend = JSON.parse(wrapper.get('[data-testid="stats-trend"] .chart-stub').attributes("data-series") ?? "[]");
    expect(trend.map((s: { name: string }) => s.name)).toEqual(["响应率", "解决率", "满意率"]);

    await wrapper.get('[data-testid="stats-xlsx"]').trigger("click");
    await settle();
    const exported = calls.find((c) => c.cmd === "save_report_export");
    expect(exported?.args).toMatchObject({ format: "xlsx" });
    expect(String(exported?.args.fileName)).toMatch(/^三率统计-.*\.xlsx$/);
    expect(calls.some((c) => c.cmd === "save_export")).toBe(false);
    wrapper.unmount();
  }, 30_000);

  it("shows the cache's estimate offline, labelled 离线估算, and exports it as an estimate", async () => {
    const { wrapper, view } = await openStats(true);
    expect(view.source).toBe("offline");
    const source = wrapper.get('[data-testid="stats-source"]');
    expect(source.attributes("data-source")).toBe("offline");
    expect(source.text()).toContain("离线估算");
    expect(wrapper.get('[data-testid="stats-offline"]').text()).toContain("以服务器统计为准");
    expect(wrapper.find('[data-testid="stats-ranking"]').exists()).toBe(false);
    expect(wrapper.find('[data-testid="stats-xlsx"]').exists()).toBe(false);
    expect(wrapper.get('[data-testid="stats-letters"]').text()).toBe(String(view.estimate?.letters));

    await wrapper.get('[data-testid="stats-csv"]').trigger("click");
    await settle();
    const exported = calls.find((c) => c.cmd === "save_export");
    expect(String(exported?.args.fileName)).toMatch(/^三率离线估算-.*\.csv$/);
    expect(String(exported?.args.content)).toContain("离线估算");
    expect(calls.some((c) => c.cmd === "save_report_export")).toBe(false);
    wrapper.unmount();
  }, 30_000);
});
