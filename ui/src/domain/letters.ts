// Helpers over letters, units and people that several screens share.
import type { InboxQuery, LetterState, Me, Unit, UnitId, UserSummary } from "../ipc";
import { MAX_PROBLEM_TAGS } from "../ipc/bindings/limits";

export const STATES: LetterState[] = ["received", "dispatched", "handling", "awaiting_approval", "closed"];

export function emptyQuery(overrides: Partial<InboxQuery> = {}): InboxQuery {
  return {
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
    limit: 100,
    ...overrides,
  };
}

/** The UI's filter form → the store's `InboxQuery` (blank search is no search). */
export type InboxFilters = {
  state: LetterState | null;
  bands: InboxQuery["bands"];
  categories: InboxQuery["categories"];
  channels: InboxQuery["channels"];
  handler: number | null;
  text: string;
};

export function filtersToQuery(filters: InboxFilters, base: Partial<InboxQuery> = {}): InboxQuery {
  const text = filters.text.trim().replace(/\s+/g, " ");
  return emptyQuery({
    ...base,
    supervisor: base.supervisor ?? null,
    states: filters.state ? [filters.state] : (base.states ?? []),
    // The screen's own filter (a worklist's base) holds unless the user narrows it.
    bands: filters.bands.length ? [...filters.bands] : (base.bands ?? []),
    categories: filters.categories.length ? [...filters.categories] : (base.categories ?? []),
    channels: filters.channels.length ? [...filters.channels] : (base.channels ?? []),
    handler: filters.handler ?? base.handler ?? null,
    text: text.length > 0 ? text : null,
  });
}

/** Units strictly below `unit` in the tree, top-down (dispatch targets). */
export function unitsBelow(units: Unit[], unit: UnitId): Unit[] {
  const children = new Map<UnitId, Unit[]>();
  for (const u of units) {
    if (u.parent === null) continue;
    const list = children.get(u.parent) ?? [];
    list.push(u);
    children.set(u.parent, list);
  }
  const out: Unit[] = [];
  const walk = (id: UnitId) => {
    for (const child of (children.get(id) ?? []).sort((a, b) => a.name.localeCompare(b.name, "zh-CN"))) {
      out.push(child);
      walk(child.id);
    }
  };
  walk(unit);
  return out;
}

/** Dispatch goes one tier down at a time in practice: the direct children first. A
 * deactivated unit receives no letters (the server refuses them too). */
export function dispatchTargets(me: Me): Unit[] {
  return unitsBelow(me.units, me.unit_id).filter((u) => u.active);
}

export function unitName(units: Unit[], id: UnitId | null | undefined): string | null {
  if (id === null || id === undefined) return null;
  return units.find((u) => u.id === id)?.name ?? null;
}

export function userName(people: UserSummary[], id: number | null | undefined): string | null {
  if (id === null || id === undefined) return null;
  return people.find((p) => p.id === id)?.display_name ?? null;
}

/** CSV with a UTF-8 BOM (Excel opens Chinese correctly) and RFC 4180 quoting. */
export function toCsv(rows: (string | number)[][]): string {
  const cell = (v: string | number) => {
    const s = String(v);
    // A leading = + - @ would be a formula in a spreadsheet: neutralise it.
    const safe = /^[=+\-@]/.test(s) && typeof v === "string" ? `'${s}` : s;
    return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
  };
  return "\ufeff" + rows.map((r) => r.map(cell).join(",")).join("\r\n") + "\r\n";
}

/** A rate as "87.5%" or "—" when there is nothing to divide by. */
export function rate(numerator: number, denominator: number): string {
  if (denominator <= 0) return "—";
  return `${((numerator / denominator) * 100).toFixed(1)}%`;
}

/** A phone the server takes for a writer (`intake::is_mobile` / `is_landline`, mirrored
 * here so the desk hears of a typo before sending; the server's check decides): an
 * 11-digit mobile, `0755-12345678`, a 7–8 digit local number, or 0 + 9–11 digits.
 * Spaces are ignored, as the server ignores them. */
export function isWriterPhone(raw: string): boolean {
  const p = raw.replace(/\s/g, "");
  return /^1[3-9]\d{9}$/.test(p) || /^0\d{2,3}-\d{7,8}$/.test(p) || /^\d{7,8}$/.test(p) || /^0\d{9,11}$/.test(p);
}

/** The choices of a problem-class select: the classes the server serves, plus any the
 * letter already carries (so an old tag can be seen and removed); once `MAX_PROBLEM_TAGS`
 * are chosen, the others are disabled. */
export function problemClassOptions(served: readonly string[], chosen: readonly string[], carried: readonly string[] = []) {
  const extra = carried.filter((c) => !served.includes(c));
  return [...served, ...extra].map((c) => ({
    label: c,
    value: c,
    disabled: chosen.length >= MAX_PROBLEM_TAGS && !chosen.includes(c),
  }));
}
