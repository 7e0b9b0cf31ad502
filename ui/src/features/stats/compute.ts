// Statistics computed on this workstation from cached letters: the fallback while the
// `statistics` command (docs/ipc.md) is not there. Same definitions as DOMAIN.md's 三率;
// sign-for timeliness uses Shenzhen's default 10 minutes (the policy is not sent to the
// UI), so these figures are estimates and the screen says so.
import * as ipc from "../../ipc";
import type { Category, LetterDetail, OfficerStats, RateCounts, StatsReport, Tier, TierStats, UnitStats } from "../../ipc";

export const FALLBACK_CAP = 1500;
const SIGN_FOR_SECS = 10 * 60;
const LOOKBACK_MS = 45 * 86400_000;

const zero = (): RateCounts => ({ dispatched: 0, signed_on_time: 0, due: 0, closed_on_time: 0, visits: 0, satisfied: 0 });

function inPeriod(iso: string | null | undefined, from: number, to: number): boolean {
  if (!iso) return false;
  const ms = Date.parse(iso);
  return ms >= from && ms < to;
}

/** Pure: the report for [from, to) from letters' details, read at `nowMs`. */
export function computeReport(details: LetterDetail[], fromIso: string, toIso: string, nowMs: number): StatsReport {
  const from = Date.parse(fromIso);
  const to = Date.parse(toIso);
  const units = new Map<number, UnitStats>();
  const officers = new Map<number, OfficerStats>();
  const unit = (id: number) => {
    let s = units.get(id);
    if (!s) units.set(id, (s = { ...zero(), unit_id: id }));
    return s;
  };
  const officer = (id: number, unitId: number | null) => {
    let s = officers.get(id);
    if (!s) officers.set(id, (s = { ...zero(), user_id: id, unit_id: unitId }));
    return s;
  };
  const byCategory = new Map<Category, number>();
  const byProblem = new Map<string, number>();
  const tiers = new Map<Tier, TierStats>();
  const tier = (t: Tier) => {
    let s = tiers.get(t);
    if (!s) tiers.set(t, (s = { tier: t, overdue: 0, held_secs: 0 }));
    return s;
  };
  let letters = 0;

  for (const d of details) {
    const r = d.record;
    const events = r.events;
    if (inPeriod(r.received_at, from, to)) {
      letters += 1;
      byCategory.set(r.category, (byCategory.get(r.category) ?? 0) + 1);
      for (const tag of r.problem_tags) byProblem.set(tag, (byProblem.get(tag) ?? 0) + 1);
    }
    // 响应率: each dispatch in the period, met if that unit signed within the clock.
    events.forEach((e, i) => {
      if (e.payload.kind !== "dispatched" || !inPeriod(e.at, from, to)) return;
      const target = e.payload.to;
      const s = unit(target);
      s.dispatched += 1;
      const signed = events.slice(i + 1).find((n) => n.payload.kind === "signed_for" && n.payload.unit === target);
      const onTime = !!signed && Date.parse(signed.at) - Date.parse(e.at) <= SIGN_FOR_SECS * 1000;
      if (onTime) s.signed_on_time += 1;
      if (signed && signed.payload.kind === "signed_for") {
        const o = officer(signed.payload.handler, target);
        o.dispatched += 1;
        if (onTime) o.signed_on_time += 1;
      }
    });
    // 解决率: letters whose (extended) closure deadline falls in the period.
    const closure = d.clocks.closure;
    if (inPeriod(closure.due_at, from, to)) {
      const s = unit(d.status.unit);
      s.due += 1;
      const met = closure.state === "met";
      if (met) s.closed_on_time += 1;
      if (d.status.handler !== null) {
        const o = officer(d.status.handler, d.status.unit);
        o.due += 1;
        if (met) o.closed_on_time += 1;
      }
    }
    // 满意率: return visits recorded in the period.
    for (const e of events) {
      if (e.payload.kind !== "return_visit_recorded" || !inPeriod(e.at, from, to)) continue;
      const ok = e.payload.satisfaction !== "dissatisfied";
      const s = unit(d.status.unit);
      s.visits += 1;
      if (ok) s.satisfied += 1;
      if (d.status.handler !== null) {
        const o = officer(d.status.handler, d.status.unit);
        o.visits += 1;
        if (ok) o.satisfied += 1;
      }
    }
    // Time held per tier inside the period, and which tier held each breached clock.
    const holdings = d.status.clock_inputs.holdings;
    for (const h of holdings) {
      const start = Math.max(Date.parse(h.from), from);
      const end = Math.min(h.until ? Date.parse(h.until) : nowMs, to, nowMs);
      if (end > start) tier(h.tier).held_secs += Math.floor((end - start) / 1000);
    }
    const clocks = [d.clocks.sign_for, d.clocks.contact, d.clocks.first_feedback, d.clocks.closure];
    for (const c of clocks) {
      if (!c || (c.state !== "breached" && c.state !== "met_late") || !inPeriod(c.due_at, from, to)) continue;
      const due = Date.parse(c.due_at);
      const holder = holdings.find((h) => Date.parse(h.from) <= due && (!h.until || Date.parse(h.until) > due));
      if (holder) tier(holder.tier).overdue += 1;
    }
  }

  const sortCount = <K extends string>(m: Map<K, number>) =>
    [...m.entries()].map(([key, count]) => ({ key, count })).sort((a, b) => b.count - a.count);
  const order: Tier[] = ["city", "branch", "station"];
  return {
    from: fromIso,
    to: toIso,
    letters,
    units: [...units.values()],
    officers: [...officers.values()],
    by_category: sortCount(byCategory),
    by_problem: sortCount(byProblem),
    tiers: order.map((t) => tiers.get(t) ?? { tier: t, overdue: 0, held_secs: 0 }),
    computed_in_ui: true,
  };
}

/** Reads up to FALLBACK_CAP letters that can matter for the period and computes the report. */
export async function computeFromCache(fromIso: string, toIso: string, nowMs: number): Promise<StatsReport> {
  const earliest = Date.parse(fromIso) - LOOKBACK_MS;
  const ids: number[] = [];
  for (let offset = 0; ids.length < FALLBACK_CAP; offset += 500) {
    const view = await ipc.inbox({
      states: [],
      bands: [],
      categories: [],
      channels: [],
      handler: null,
      unit: null,
      text: null,
      offset,
      limit: 500,
    });
    for (const row of view.page.rows) {
      const received = Date.parse(row.received_at);
      if (received >= earliest && received < Date.parse(toIso)) ids.push(row.id);
    }
    if (view.page.rows.length < 500) break;
  }
  const details: LetterDetail[] = [];
  const queue = ids.slice(0, FALLBACK_CAP);
  const workers = Array.from({ length: 8 }, async () => {
    for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
      try {
        details.push((await ipc.letterDetail(id)).detail);
      } catch {
        // left the scope meanwhile
      }
    }
  });
  await Promise.all(workers);
  return computeReport(details, fromIso, toIso, nowMs);
}
