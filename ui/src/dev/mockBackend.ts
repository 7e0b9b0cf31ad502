// A stand-in for the Rust commands of docs/ipc.md, for development in a browser
// (`VITE_JSJB_MOCK=1 npm run dev`, `?letters=100000` for a big inbox), screenshots and
// unit tests. Never part of a release build: main.ts imports it only when
// VITE_JSJB_MOCK is set at build time. mockBackend.test.ts checks the commands it answers
// against the app's real list (`generate_handler!` in src-tauri/src/lib.rs).
import type {
  Action,
  ActionKind,
  Category,
  Channel,
  ClockKind,
  ClockReading,
  EventPayload,
  EventRecord,
  HandoverAckView,
  HandoverItem,
  HandoverItemKind,
  HandoverReport,
  InboxQuery,
  InboxRow,
  LetterClocks,
  LetterDetail,
  LetterRecord,
  LetterState,
  Me,
  OfficerStats,
  OutboxEntry,
  RateCounts,
  Role,
  Report,
  Settings,
  StatsReport,
  StatsView,
  BoardRow,
  UnitLoad,
  WallBoard,
  SyncStatus,
  Unit,
  UnitStats,
  UserSummary,
} from "../ipc/types";
import type { LetterInput, Notice } from "../ipc/bindings";
import { SHENZHEN_CLOCKS } from "../ipc/bindings/limits";
import { compareRanks, rankOf, type Rank } from "../domain/inboxOrder";

export type MockOptions = {
  letters?: number;
  seed?: number;
  /** Who is signed in at start (null: the login screen). */
  user?: string | null;
  nowMs?: number;
  offline?: boolean;
  /** `account_notices`: what the server tells the user about their own account. */
  notices?: Notice[];
  /** `waiting_status.soundAvailable`: false as on a workstation without a sound device. */
  soundAvailable?: boolean;
  /** The signed-in user's password was set by an admin: to be changed first. */
  mustChangePassword?: boolean;
  /** The first sync has not finished: nothing synced yet. */
  neverSynced?: boolean;
};

const UNITS: Unit[] = [
  { id: 1, parent: null, tier: "city", name: "深圳市公安局", active: true },
  { id: 2, parent: 1, tier: "branch", name: "福田分局", active: true },
  { id: 3, parent: 1, tier: "branch", name: "南山分局", active: true },
  { id: 5, parent: 2, tier: "station", name: "福田派出所", active: true },
  { id: 6, parent: 2, tier: "station", name: "华富派出所", active: true },
  { id: 7, parent: 2, tier: "station", name: "莲花派出所", active: true },
  { id: 8, parent: 2, tier: "station", name: "香蜜湖派出所", active: true },
  { id: 9, parent: 3, tier: "station", name: "南山派出所", active: true },
];

const PEOPLE: (UserSummary & { username: string })[] = [
  { id: 10, username: "futianfj.desk", display_name: "赵晓东", unit_id: 2, roles: ["dispatcher"] },
  { id: 11, username: "futianfj.chief", display_name: "孙建华", unit_id: 2, roles: ["chief"] },
  { id: 12, username: "futianfj.dingban", display_name: "周涛", unit_id: 2, roles: ["supervisor"] },
  { id: 20, username: "futian.liu", display_name: "刘瑞峰", unit_id: 5, roles: ["officer"] },
  { id: 21, username: "futian.huang", display_name: "黄思远", unit_id: 5, roles: ["officer"] },
  { id: 22, username: "futian.chief", display_name: "林志斌", unit_id: 5, roles: ["chief"] },
  { id: 30, username: "huafu.ma", display_name: "马军", unit_id: 6, roles: ["officer"] },
  { id: 40, username: "admin", display_name: "系统管理员", unit_id: 1, roles: ["admin"] },
];

const SUBJECTS = [
  "小区门口夜间摆摊噪音扰民，多次反映无果",
  "电动自行车被盗，请求调取监控",
  "咨询港澳通行证续签需要哪些材料",
  "感谢福田派出所民警帮忙找回走失老人",
  "建议在学校门口上下学时段增派警力",
  "楼下商铺长期占道经营影响通行",
  "网购被骗 3200 元，已报警想了解进展",
  "深夜飙车炸街噪音严重，请求整治",
  "居住证办理进度查询",
  "举报小区内疑似非法出租屋",
  "停车场收费纠纷，保安态度恶劣",
  "老人被推销保健品骗取养老金",
];
const BODIES = [
  "本人住在福田区莲花路某小区，近一个月来每晚十点后楼下都有人摆摊，噪音很大，孩子无法休息。已多次拨打电话反映，希望尽快处理。",
  "我的电动自行车昨晚停在楼下被盗，车牌粤B12345，希望民警帮忙调取附近监控。\n联系电话见登记信息。",
  "请问港澳通行证到期后续签需要带哪些材料？可以在派出所办理吗？",
];
const TAGS = ["噪音扰民", "盗窃", "诈骗", "出入境", "户籍", "交通秩序", "治安隐患", "服务态度"];
const CATEGORIES: Category[] = ["complaint", "help", "inquiry", "suggestion", "thanks"];
const CHANNELS: Channel[] = ["web", "wechat", "weibo", "phone"];

const MIN = 60_000;
const DAY = 86_400_000;
/** The Shenzhen clocks, generated from core's `Policy::shenzhen` (ms). */
const RULES = Object.fromEntries(
  Object.entries(SHENZHEN_CLOCKS).map(([kind, r]) => [kind, { due: r.dueSecs * 1000, warn: r.warnSecs * 1000 }]),
) as Record<ClockKind, { due: number; warn: number }>;

type Letter = {
  record: LetterRecord;
  seen: boolean;
  pending: OutboxEntry[];
  failed: OutboxEntry[];
  /** Cached row, invalidated on change. */
  row?: InboxRow;
};

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

const iso = (ms: number) => new Date(ms).toISOString();

function reading(kind: ClockKind, startMs: number, metIso: string | null, nowMs: number, dueOverride?: number): ClockReading {
  const rule = RULES[kind];
  const due = dueOverride ?? startMs + rule.due;
  const met = metIso ? Date.parse(metIso) : null;
  const state = met !== null ? (met <= due ? "met" : "met_late") : nowMs > due ? "breached" : "running";
  // core::clock::running_band, mirrored for this development backend only.
  const band = met !== null ? "done" : nowMs > due ? "overdue" : nowMs >= due - rule.warn ? "warning" : "ok";
  return {
    kind,
    started_at: iso(startMs),
    due_at: iso(due),
    original_due_at: dueOverride ? iso(startMs + rule.due) : null,
    state,
    band,
    remaining_secs: Math.floor(((met ?? nowMs) === nowMs ? due - nowMs : due - (met as number)) / 1000),
    met_at: metIso,
  };
}

function find(events: EventRecord[], kind: EventPayload["kind"]): EventRecord | undefined {
  return events.find((e) => e.payload.kind === kind);
}

export function clocksOf(r: LetterRecord, nowMs: number): LetterClocks {
  const received = Date.parse(r.received_at);
  const events = r.events;
  const lastDispatch = [...events].reverse().find((e) => e.payload.kind === "dispatched");
  const signed = lastDispatch ? events.find((e) => e.seq > lastDispatch.seq && e.payload.kind === "signed_for") : undefined;
  const returned = lastDispatch ? events.find((e) => e.seq > lastDispatch.seq && e.payload.kind === "returned") : undefined;
  const contact = events.find((e) => e.payload.kind === "contact_recorded" && e.payload.outcome === "reached");
  const feedback = find(events, "first_feedback_given");
  const closed = events.find((e) => e.payload.kind === "feedback_form_decided" && e.payload.decision === "approve");
  const ext = events.find((e) => e.payload.kind === "extension_decided" && e.payload.approve);
  const sign_for =
    lastDispatch && !returned ? reading("sign_for", Date.parse(lastDispatch.at), signed?.at ?? null, nowMs) : null;
  const clocks: LetterClocks = {
    sign_for,
    contact: reading("contact", received, contact ? (contact.payload as { contacted_at: string }).contacted_at : null, nowMs),
    first_feedback: reading("first_feedback", received, feedback?.at ?? null, nowMs),
    closure: reading(
      "closure",
      received,
      closed?.at ?? null,
      nowMs,
      ext && ext.payload.kind === "extension_decided" && ext.payload.new_due ? Date.parse(ext.payload.new_due) : undefined,
    ),
    most_urgent: null,
  };
  const unmet = [clocks.sign_for, clocks.contact, clocks.first_feedback, clocks.closure].filter(
    (c): c is ClockReading => c !== null && (c.state === "running" || c.state === "breached"),
  );
  unmet.sort((a, b) => Date.parse(a.due_at) - Date.parse(b.due_at));
  clocks.most_urgent = unmet[0]?.kind ?? null;
  return clocks;
}

function stateOf(events: EventRecord[]): { state: LetterState; unit: number; handler: number | null } {
  let state: LetterState = "received";
  let unit = 2;
  let handler: number | null = null;
  for (const e of events) {
    const p = e.payload;
    switch (p.kind) {
      case "received":
        unit = p.unit;
        break;
      case "dispatched":
        state = "dispatched";
        unit = p.to;
        handler = null;
        break;
      case "signed_for":
        state = "handling";
        handler = p.handler;
        break;
      case "returned":
        state = "received";
        unit = p.to;
        handler = null;
        break;
      case "feedback_form_submitted":
        state = "awaiting_approval";
        break;
      case "feedback_form_decided":
        state = p.decision === "approve" ? "closed" : "handling";
        break;
      case "return_visit_recorded":
        if (p.satisfaction === "dissatisfied") state = "handling";
        break;
    }
  }
  return { state, unit, handler };
}

export function createMockBackend(options: MockOptions = {}) {
  const nowBase = options.nowMs ?? Date.now();
  const started = Date.now();
  const now = () => nowBase + (Date.now() - started);
  const random = rng(options.seed ?? 7);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const letters = new Map<number, Letter>();
  let signedIn: (UserSummary & { username: string }) | null =
    options.user === null ? null : (PEOPLE.find((p) => p.username === (options.user ?? "futian.liu")) ?? null);
  let offline = options.offline ?? false;
  // What the server tells the user about their own account at sign-in (none by default).
  let notices: Notice[] = options.notices ?? [];
  let mustChangePassword = options.mustChangePassword ?? false;
  let outboxId = 1;
  let sorted: Letter[] | null = null;
  const listeners: ((event: string, payload: unknown) => void)[] = [];
  const settings: Settings = {
    serverUrl: "http://127.0.0.1:8080",
    locale: "zh-CN",
    chime: { muted: false, volume: 0.8, repeat: true },
    autostart: false,
  };

  /** `type_in_letter`'s answers by idempotency key: a retry gets the first letter. */
  const typedIn = new Map<string, { id: number; tracking_code: string; received_at: string; unit_id: number }>();

  function addLetter(id: number, ageMs: number, target: LetterState, overrides: Partial<LetterRecord> = {}): Letter {
    const t0 = now() - ageMs;
    const events: EventRecord[] = [];
    let seq = 0;
    const push = (at: number, payload: EventPayload, user: number | null = null, unit: number | null = null) =>
      events.push({ seq: ++seq, at: iso(Math.min(at, now())), actor_user: user, actor_unit: unit, workstation: null, payload });
    push(t0, { kind: "received", unit: 2, tier: "branch" });
    const station = random() < 0.8 ? 5 : pick([6, 7, 8]);
    const handler = station === 5 ? pick([20, 21]) : 30;
    if (target !== "received") {
      push(t0 + 2 * MIN, { kind: "dispatched", from: 2, to: station, to_tier: "station", note: "", ruling: null }, 10, 2);
    }
    if (target === "handling" || target === "awaiting_approval" || target === "closed") {
      const signAt = t0 + 2 * MIN + random() * 12 * MIN;
      push(signAt, { kind: "signed_for", unit: station, handler }, handler, station);
      if (ageMs > 40 * MIN || target !== "handling" || random() < 0.5) {
        const c = signAt + random() * 25 * MIN;
        const unreachable = target === "handling" && random() < 0.15;
        push(c, { kind: "contact_recorded", method: "phone", outcome: unreachable ? "unreachable" : "reached", contacted_at: iso(Math.min(c, now())), note: unreachable ? "电话无人接听，约定明早再拨" : "已电话联系，了解诉求", ...(unreachable ? { callback_at: iso(c + 14 * 3600_000) } : {}) }, handler, station);
      }
      if (ageMs > 3 * DAY || (target !== "handling" && ageMs > DAY)) {
        push(t0 + Math.min(ageMs * 0.3, 3.5 * DAY), { kind: "first_feedback_given", text: "已收到您的来信，民警正在核实处理。" }, handler, station);
      }
    }
    // 盯办 and 催办 on some old cases still in hand (no random draw: the rest of the
    // generated data stays as it was).
    if (target === "handling" && ageMs > 5 * DAY && id % 4 === 1) {
      push(t0 + ageMs * 0.6, { kind: "supervisor_assigned", supervisor: 12, note: "" }, 10, 2);
      push(now() - 3 * 3600_000, { kind: "chased", note: "请今日内反馈办理进展" }, 12, 2);
    }
    if (target === "awaiting_approval" || target === "closed") {
      push(t0 + ageMs * 0.8, { kind: "feedback_form_submitted", summary: "经走访核实，已联合街道整治。", result: "问题已解决", reply: "您反映的问题已处理，感谢监督。" }, handler, station);
    }
    if (target === "closed") {
      push(t0 + ageMs * 0.9, { kind: "feedback_form_decided", decision: "approve", opinion: "" }, 22, station);
      if (random() < 0.7) push(t0 + ageMs * 0.95, { kind: "return_visit_recorded", resolved: true, satisfaction: pick(["satisfied", "satisfied", "basically_satisfied", "dissatisfied"] as const), note: "" }, 10, 2);
    }
    const { state, unit, handler: h } = stateOf(events);
    const record: LetterRecord = {
      id,
      tracking_code: `SZ${String(20261100 + (id % 97)).slice(-6)}${String(id).padStart(5, "0")}`,
      channel: pick(CHANNELS),
      category: pick(CATEGORIES),
      problem_tags: [pick(TAGS)],
      subject: pick(SUBJECTS),
      body: pick(BODIES),
      writer: { name: "张**", phone: "138********", masked: true },
      received_at: iso(t0),
      state,
      unit_id: unit,
      handler_id: h,
      version: events.length,
      events,
      attachments: id % 5 === 0 ? [{ sha256: "a".repeat(64), kind: "image", mime: "image/svg+xml", size: 300 }] : [],
      signed_forms: [],
      writer_notices: [],
      ...overrides,
    };
    const letter: Letter = { record, seen: true, pending: [], failed: [] };
    letters.set(id, letter);
    sorted = null;
    return letter;
  }

  // The demo set: a few rows of each colour at the top, then history.
  const n = options.letters ?? 120;
  const plan: [number, LetterState][] = [
    // Dispatched two minutes after receipt: 6:00 left, 1:30 left (amber), 2:13 late (red).
    [6 * MIN, "dispatched"],
    [10.5 * MIN, "dispatched"],
    [14 * MIN + 13_000, "dispatched"],
    [25 * MIN, "handling"],
    [50 * MIN, "handling"],
    [3.4 * DAY, "handling"],
    [6 * DAY, "handling"],
    [14 * DAY, "awaiting_approval"],
    [20 * MIN, "received"],
  ];
  for (let id = 1; id <= n; id++) {
    const p = plan[id - 1];
    if (p) addLetter(id, p[0], p[1]);
    else {
      const r = random();
      const target: LetterState = r < 0.55 ? "closed" : r < 0.8 ? "handling" : r < 0.9 ? "awaiting_approval" : r < 0.95 ? "dispatched" : "received";
      // Letters still waiting at a desk or for sign-for are recent; the rest spread over a month.
      const age = target === "dispatched" || target === "received" ? random() * 40 * MIN : random() * 30 * DAY;
      addLetter(id, target === "handling" ? Math.min(age, 14 * DAY) : age, target);
    }
  }
  const first = letters.get(1);
  if (first) first.seen = false;

  function rowOf(l: Letter, nowMs: number): InboxRow {
    const r = l.record;
    const clocks = clocksOf(r, nowMs);
    const urgent = clocks.most_urgent ? (clocks[clocks.most_urgent] as ClockReading) : null;
    return {
      id: r.id,
      tracking_code: r.tracking_code,
      channel: r.channel,
      category: r.category,
      subject: r.subject,
      writer_name: r.writer.name,
      received_at: r.received_at,
      state: r.state,
      unit_id: r.unit_id,
      handler_id: r.handler_id,
      version: r.version + l.pending.length,
      pending: l.pending.length > 0,
      seen: l.seen,
      band: urgent ? urgent.band : "done",
      urgent_clock: urgent?.kind ?? null,
      due_at: urgent?.due_at ?? null,
      remaining_secs: urgent ? Math.floor((Date.parse(urgent.due_at) - nowMs) / 1000) : null,
      group: rankOf([clocks.sign_for, clocks.contact, clocks.first_feedback, clocks.closure], Date.parse(r.received_at), nowMs).group,
      chased_at: [...r.events].reverse().find((e) => e.payload.kind === "chased")?.at ?? null,
    };
  }

  function sortedLetters(nowMs: number): Letter[] {
    if (!sorted) {
      const ranks = new Map<Letter, Rank & { id: number }>();
      for (const l of letters.values()) {
        l.row = rowOf(l, nowMs);
        const c = clocksOf(l.record, nowMs);
        const rank = rankOf([c.sign_for, c.contact, c.first_feedback, c.closure], Date.parse(l.record.received_at), nowMs);
        ranks.set(l, { ...rank, id: l.record.id });
      }
      sorted = [...letters.values()].sort((a, b) => compareRanks(ranks.get(a)!, ranks.get(b)!));
    }
    return sorted;
  }

  /** The worklist facts of a letter, from its events (as the store's row columns). */
  function worklistsOf(r: LetterRecord) {
    let supervisor: number | null = null;
    let extensionPending = false;
    let extended = false;
    let visitDue = false;
    for (const e of r.events) {
      const p = e.payload;
      if (p.kind === "supervisor_assigned") supervisor = p.supervisor;
      else if (p.kind === "extension_requested") extensionPending = true;
      else if (p.kind === "extension_decided") {
        extensionPending = false;
        if (p.approve) extended = true;
      } else if (p.kind === "feedback_form_decided" && p.decision === "approve") visitDue = true;
      else if (p.kind === "return_visit_recorded") visitDue = false;
    }
    return { supervisor, extensionPending, extended, visitDue: visitDue && r.state === "closed" };
  }

  function inbox(q: InboxQuery) {
    const nowMs = now();
    const all = sortedLetters(nowMs);
    const words = (q.text ?? "").toLowerCase().split(/\s+/).filter(Boolean);
    const matchOthers = (l: Letter) => {
      const row = l.row as InboxRow;
      if (q.bands.length && !q.bands.includes(row.band)) return false;
      if (q.categories.length && !q.categories.includes(row.category)) return false;
      if (q.channels.length && !q.channels.includes(row.channel)) return false;
      if (q.handler !== null && row.handler_id !== q.handler) return false;
      if (q.unit !== null && row.unit_id !== q.unit) return false;
      if (q.supervisor !== null || q.extension_pending || q.extended || q.visit_due) {
        const w = worklistsOf(l.record);
        if (q.supervisor !== null && w.supervisor !== q.supervisor) return false;
        if (q.extension_pending && !w.extensionPending) return false;
        if (q.extended && !w.extended) return false;
        if (q.visit_due && !w.visitDue) return false;
      }
      if (words.length) {
        const hay = `${l.record.subject} ${l.record.body} ${l.record.tracking_code} ${l.record.writer.name}`.toLowerCase();
        if (!words.every((w) => hay.includes(w))) return false;
      }
      return true;
    };
    const counts = new Map<LetterState, number>();
    const rows: InboxRow[] = [];
    let total = 0;
    const filtered = !!(
      q.bands.length ||
      q.categories.length ||
      q.channels.length ||
      q.handler !== null ||
      q.unit !== null ||
      q.supervisor !== null ||
      q.extension_pending ||
      q.extended ||
      q.visit_due ||
      words.length
    );
    for (const l of all) {
      const row = l.row as InboxRow;
      if (filtered && !matchOthers(l)) continue;
      counts.set(row.state, (counts.get(row.state) ?? 0) + 1);
      if (q.states.length && !q.states.includes(row.state)) continue;
      if (total >= q.offset && rows.length < q.limit) rows.push(rowOf(l, nowMs));
      total++;
    }
    return {
      page: { rows, total, state_counts: [...counts.entries()].map(([state, count]) => ({ state, count })) },
      serverNow: iso(nowMs),
    };
  }

  function me(): Me | null {
    if (!signedIn) return null;
    return {
      user_id: signedIn.id,
      username: signedIn.username,
      display_name: signedIn.display_name,
      unit_id: signedIn.unit_id,
      roles: signedIn.roles as Role[],
      units: UNITS,
      must_change_password: mustChangePassword,
      // The server serves its configured classes; the development backend a few.
      problem_classes: ["噪音扰民", "违章停车", "治安隐患", "邻里纠纷", "电信网络诈骗", "办事效率"],
    };
  }

  function available(l: Letter): ActionKind[] {
    const m = me();
    if (!m) return [];
    const r = l.record;
    const s = r.state;
    const out: ActionKind[] = [];
    const same = r.unit_id === m.unit_id;
    if (m.roles.includes("dispatcher") && same && s === "received") {
      out.push("dispatch");
      if (r.events.some((e) => e.payload.kind === "returned")) out.push("rule_return");
    }
    if (m.roles.includes("officer") && same) {
      if (s === "dispatched") out.push("sign_for", "return_letter");
      if (s === "handling") {
        out.push("record_contact", "give_first_feedback");
        // As core: an extension is asked for before the closure deadline (the deadline included).
        const closure = clocksOf(r, now()).closure;
        if (closure && now() <= Date.parse(closure.due_at)) out.push("request_extension");
        out.push("submit_feedback_form", "return_letter");
      }
    }
    if (m.roles.includes("chief") && same && s === "awaiting_approval") out.push("approve_feedback_form");
    if (m.roles.includes("dispatcher") && s === "closed") out.push("record_return_visit");
    // As core: the desk holding it or a desk above, while open.
    if (m.roles.includes("dispatcher") && s !== "closed") out.push("reclassify");
    return out;
  }

  function detail(l: Letter): LetterDetail {
    const r = l.record;
    const { state, unit, handler } = stateOf(r.events);
    return {
      record: r,
      status: {
        state,
        category: r.category,
        unit,
        dispatch_chain: [2],
        handler,
        supervisor: null,
        last_chased_at: null,
        pending_extension: null,
        returned_from: null,
        return_visit_done: false,
        linked_case: null,
        version: r.version + l.pending.length,
        clock_inputs: {
          received_at: r.received_at,
          category: r.category,
          dispatches: [],
          first_contact_reached_at: null,
          first_feedback_at: null,
          extension: null,
          closed_at: null,
          reopened_at: null,
          holdings: [
            { unit: 2, tier: "branch", from: r.received_at, until: r.events[1]?.at ?? null },
            ...(r.events[1] ? [{ unit, tier: "station" as const, from: r.events[1].at, until: null }] : []),
          ],
        },
      },
      clocks: clocksOf(r, now()),
      pending: l.pending.map((entry) => ({ entry, event: null, conflict: null })),
      failed: l.failed,
      seen: l.seen,
    };
  }

  function eventFor(action: Action, l: Letter, user: UserSummary): EventPayload {
    const unit = l.record.unit_id;
    switch (action.action) {
      case "sign_for":
        return { kind: "signed_for", unit, handler: user.id };
      case "dispatch":
        return { kind: "dispatched", from: unit, to: action.to, to_tier: "station", note: action.note, ruling: null };
      case "record_contact":
        return { kind: "contact_recorded", method: action.method, outcome: action.outcome, contacted_at: action.contacted_at, note: action.note };
      case "give_first_feedback":
        return { kind: "first_feedback_given", text: action.text };
      case "return_letter":
        return { kind: "returned", from: unit, to: 2, to_tier: "branch", reason: action.reason, note: action.note };
      case "submit_feedback_form":
        return { kind: "feedback_form_submitted", summary: action.summary, result: action.result, reply: action.reply };
      case "request_extension":
        return { kind: "extension_requested", reason: action.reason, legal_basis: action.legal_basis, requested_due: action.requested_due, current_due: action.requested_due };
      case "chase":
        return { kind: "chased", note: action.note };
      case "reclassify":
        return { kind: "reclassified", category: action.category, problem_tags: action.problem_tags, note: action.note };
      default:
        return { kind: "chased", note: "" };
    }
  }

  function apply(l: Letter, entry: OutboxEntry) {
    const user = PEOPLE.find((p) => p.id === entry.actor.user) ?? PEOPLE[0]!;
    const r = l.record;
    r.events = [...r.events, { seq: r.events.length + 1, at: iso(now()), actor_user: user.id, actor_unit: user.unit_id, workstation: "WS-01", payload: eventFor(entry.action, l, user) }];
    r.version = r.events.length;
    const last = r.events[r.events.length - 1]!.payload;
    if (last.kind === "reclassified") {
      r.category = last.category;
      r.problem_tags = last.problem_tags;
    }
    const s = stateOf(r.events);
    r.state = s.state;
    r.unit_id = s.unit;
    r.handler_id = s.handler;
    sorted = null;
  }

  function emit(event: string, payload: unknown) {
    for (const f of listeners) f(event, payload);
  }

  /** As the Rust alarm counts them (jsjb_core::attention): dispatched to the user's unit
   * and not signed for, for an officer or a desk; at a desk, received there. Most urgent
   * (oldest) first. */
  function waitingStatus() {
    const unit = signedIn?.unit_id;
    const desk = signedIn?.roles.includes("dispatcher") ?? false;
    // Only those who may sign for it (an officer, a desk) are alerted to sign for it.
    const signs = desk || (signedIn?.roles.includes("officer") ?? false);
    const ids = [...letters.values()]
      .filter(
        (l) =>
          l.record.unit_id === unit &&
          l.pending.length === 0 &&
          ((signs && l.record.state === "dispatched") || (desk && l.record.state === "received")),
      )
      .map((l) => l.record.id);
    return { ids, soundAvailable: options.soundAvailable ?? true };
  }

  function flushOutbox() {
    for (const l of letters.values()) {
      if (l.pending.length === 0) continue;
      for (const entry of l.pending) apply(l, entry);
      l.pending = [];
      emit("letters-changed", { ids: [l.record.id] });
    }
    sorted = null;
  }

  function syncStatus(): SyncStatus {
    const pending = [...letters.values()].reduce((s, l) => s + l.pending.length, 0);
    return {
      state: offline ? { kind: "offline", since: iso(now() - 5 * MIN) } : { kind: "online" },
      live: !offline,
      last_synced_at: options.neverSynced ? null : iso(now() - 20_000),
      pending_actions: pending,
      failed_actions: [...letters.values()].reduce((s, l) => s + l.failed.length, 0),
      clock_offset_ms: 0,
      last_error_code: offline ? "server_unreachable" : null,
      audit_alarm: null,
      catch_up_percent: null,
    };
  }

  /** Tauri's own answer for a command the app does not register. */
  const notFound = (cmd: string) => `Command ${cmd} not found`;

  // `statistics` and `handover` roughly as the server and the store compute them, enough
  // to fill the screens in development; the definitions are tested on the Rust side.
  function statistics(from: string, to: string): StatsReport {
    const inPeriod = (at: string | null) => at !== null && at >= from && at < to;
    const zero = { dispatched: 0, signed_on_time: 0, due: 0, closed_on_time: 0, visits: 0, satisfied: 0 };
    const units = new Map<number, UnitStats>();
    const officers = new Map<number, OfficerStats>();
    const byCategory = new Map<Category, number>();
    const byProblem = new Map<string, number>();
    let received = 0;
    for (const l of letters.values()) {
      const d = detail(l);
      const r = d.record;
      if (inPeriod(r.received_at)) {
        received += 1;
        byCategory.set(r.category, (byCategory.get(r.category) ?? 0) + 1);
        for (const tag of r.problem_tags) byProblem.set(tag, (byProblem.get(tag) ?? 0) + 1);
      }
      const rows: RateCounts[] = [];
      let u = units.get(d.status.unit);
      if (!u) units.set(d.status.unit, (u = { ...zero, unit_id: d.status.unit }));
      rows.push(u);
      if (d.status.handler !== null) {
        let o = officers.get(d.status.handler);
        if (!o) officers.set(d.status.handler, (o = { ...zero, user_id: d.status.handler, unit_id: d.status.unit }));
        rows.push(o);
      }
      const signFor = d.clocks.sign_for;
      const closure = d.clocks.closure;
      const visits = r.events.filter((e) => e.payload.kind === "return_visit_recorded" && inPeriod(e.at));
      for (const c of rows) {
        if (signFor && inPeriod(signFor.started_at)) {
          c.dispatched += 1;
          if (signFor.state === "met") c.signed_on_time += 1;
        }
        if (inPeriod(closure.due_at)) {
          c.due += 1;
          if (closure.state === "met") c.closed_on_time += 1;
        }
        for (const v of visits) {
          c.visits += 1;
          if (v.payload.kind === "return_visit_recorded" && v.payload.satisfaction !== "dissatisfied") c.satisfied += 1;
        }
      }
    }
    const counted = <K extends string>(m: Map<K, number>) =>
      [...m].map(([key, count]) => ({ key, count })).sort((a, b) => b.count - a.count || a.key.localeCompare(b.key));
    return {
      from,
      to,
      letters: received,
      units: [...units.values()].filter((u) => u.dispatched + u.due + u.visits > 0),
      officers: [...officers.values()].filter((o) => o.dispatched + o.due + o.visits > 0),
      by_category: counted(byCategory),
      by_problem: counted(byProblem),
      tiers: (["city", "branch", "station"] as const).map((tier) => ({ tier, overdue: 0, held_secs: 0, letters_held: 0 })),
    };
  }

  // `stats_view` online: the server's report, shaped from the same rough figures (the
  // server's definitions are tested in crates/server/tests/reports.rs).
  function serverReport(from: string, to: string): Report {
    const est = statistics(from, to);
    const zero = { dispatched: 0, signed_on_time: 0, due: 0, closed_on_time: 0, visits: 0, satisfied: 0 };
    const root = signedIn?.unit_id ?? 1;
    const below = (id: number): number[] => [id, ...UNITS.filter((u) => u.parent === id).flatMap((u) => below(u.id))];
    const own = (id: number) => est.units.find((u) => u.unit_id === id) ?? { ...zero, unit_id: id };
    const sum = (ids: number[]) => {
      const c = { ...zero };
      for (const id of ids) for (const k of Object.keys(zero) as (keyof typeof zero)[]) c[k] += own(id)[k];
      return c;
    };
    const score = (c: RateCounts) => {
      const parts = [
        [10, c.dispatched ? c.signed_on_time / c.dispatched : null],
        [45, c.due ? c.closed_on_time / c.due : null],
        [45, c.visits ? c.satisfied / c.visits : null],
      ].filter((p): p is [number, number] => p[1] !== null);
      const w = parts.reduce((a, [x]) => a + x, 0);
      return w ? Math.round((100 * parts.reduce((a, [x, r]) => a + x * r, 0)) / w * 100) / 100 : null;
    };
    const ranking = UNITS.filter((u) => u.parent === root)
      .map((u) => ({ unit_id: u.id, ...sum(below(u.id)), score: score(sum(below(u.id))) }))
      .sort((a, b) => (b.score ?? -1) - (a.score ?? -1))
      .map((e, i) => ({ ...e, rank: e.score === null ? null : i + 1 }));
    const total = sum(below(root));
    return {
      from,
      to,
      server_time: iso(now()),
      unit_id: root,
      letters: est.letters,
      total,
      units: below(root).map((id) => ({ ...own(id), unit_id: id, subtree: sum(below(id)), overdue: 0, held_secs: 0, letters_held: 0 })),
      officers: est.officers,
      by_category: est.by_category.map((c) => ({ ...zero, ...c })),
      weekly: [{ start: from.slice(0, 10), letters: est.letters, ...total }],
      monthly: [{ start: from.slice(0, 10), letters: est.letters, ...total }],
      ranking,
      weights: { response: 10, resolution: 45, satisfaction: 45 },
      tiers: est.tiers,
      by_problem: est.by_problem,
      by_area: [],
      hotspots: est.by_problem.map((p) => ({ problem: p.key, unit_id: root, count: p.count })),
    };
  }

  function statsView(from: string, to: string): StatsView {
    if (offline) return { source: "offline", server: null, estimate: statistics(from, to) };
    return { source: "server", server: serverReport(from, to), estimate: null };
  }

  // `wall_board` as the store computes it (its definitions are tested on the Rust side).
  function wallBoard(withRates: boolean): WallBoard {
    const mine = signedIn?.unit_id ?? 1;
    const at = now();
    const zeroLoad = (): UnitLoad => ({
      open: 0,
      to_sign: 0,
      to_dispatch: 0,
      sign_for_overdue: 0,
      contact_overdue: 0,
      feedback_overdue: 0,
      closure_overdue: 0,
      to_approve: 0,
      extensions_pending: 0,
    });
    const subtree = (id: number): number[] => [id, ...UNITS.filter((u) => u.parent === id).flatMap((u) => subtree(u.id))];
    const today = statistics(iso(at - ((at + 8 * 3600_000) % 86_400_000)), iso(at + 1));
    const row = (unit: number, members: number[], own: boolean): BoardRow => {
      const load = zeroLoad();
      const rates = { dispatched: 0, signed_on_time: 0, due: 0, closed_on_time: 0, visits: 0, satisfied: 0 };
      for (const l of letters.values()) {
        const d = detail(l);
        if (!members.includes(d.status.unit) || d.status.state === "closed") continue;
        load.open += 1;
        if (d.status.state === "dispatched") load.to_sign += 1;
        if (d.status.state === "received") load.to_dispatch += 1;
        if (d.status.state === "awaiting_approval") load.to_approve += 1;
        if (d.status.pending_extension) load.extensions_pending += 1;
        if (d.clocks.sign_for?.state === "breached") load.sign_for_overdue += 1;
        if (d.clocks.contact.state === "breached") load.contact_overdue += 1;
        if (d.clocks.first_feedback.state === "breached") load.feedback_overdue += 1;
        if (d.clocks.closure.state === "breached") load.closure_overdue += 1;
      }
      for (const u of today.units.filter((u) => members.includes(u.unit_id))) {
        for (const k of Object.keys(rates) as (keyof typeof rates)[]) rates[k] += u[k];
      }
      return { unit_id: unit, own, load, today: withRates ? rates : null };
    };
    const rows = [row(mine, [mine], true), ...UNITS.filter((u) => u.parent === mine).map((u) => row(u.id, subtree(u.id), false))];
    return { at: iso(at), today_from: withRates ? today.from : null, rows, total: row(mine, subtree(mine), false) };
  }

  const handoverAcks: HandoverAckView[] = [];

  function handover(): HandoverReport {
    const items: HandoverItem[] = [];
    const soon = now() + 2 * 3600_000;
    const unit = signedIn?.unit_id;
    for (const l of letters.values()) {
      const d = detail(l);
      if (d.status.unit !== unit || d.status.state === "closed") continue;
      const base = { letter_id: d.record.id, tracking_code: d.record.tracking_code, subject: d.record.subject, note: "", event_at: null };
      const signFor = d.clocks.sign_for;
      if (d.status.state === "dispatched" && signFor && signFor.met_at === null) {
        items.push({ ...base, kind: "not_signed_for", clock: "sign_for", due_at: signFor.due_at });
      }
      if (d.status.handler !== null && d.clocks.contact.met_at === null) {
        items.push({ ...base, kind: "not_contacted", clock: "contact", due_at: d.clocks.contact.due_at });
      }
      const events = d.record.events;
      const chase = events.map((e) => e.payload.kind).lastIndexOf("chased");
      const chased = chase >= 0 ? events[chase] : undefined;
      if (chased?.payload.kind === "chased" && !events.slice(chase + 1).some((e) => e.actor_unit === unit)) {
        items.push({ ...base, kind: "chased", clock: null, due_at: null, event_at: chased.at, note: chased.payload.note });
      }
      const urgent = d.clocks.most_urgent ? d.clocks[d.clocks.most_urgent] : null;
      if (urgent?.state === "breached") {
        items.push({ ...base, kind: "overdue", clock: urgent.kind, due_at: urgent.due_at });
      } else if (urgent && (urgent.band !== "ok" || Date.parse(urgent.due_at) <= soon)) {
        items.push({ ...base, kind: "about_to_breach", clock: urgent.kind, due_at: urgent.due_at });
      }
      const contact = [...events].reverse().find((e) => e.payload.kind === "contact_recorded");
      if (contact?.payload.kind === "contact_recorded" && contact.payload.outcome === "unreachable") {
        const p = contact.payload;
        items.push({ ...base, kind: "promised_callback", clock: null, due_at: p.callback_at ?? null, event_at: p.contacted_at, note: p.note });
      }
    }
    const order: HandoverItemKind[] = ["not_signed_for", "not_contacted", "chased", "overdue", "about_to_breach", "promised_callback"];
    const key = (i: HandoverItem) => i.due_at ?? `~${i.event_at ?? ""}`;
    items.sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind) || key(a).localeCompare(key(b)) || a.letter_id - b.letter_id);
    const last = handoverAcks.find((a) => a.status !== "failed");
    return {
      items,
      serverNow: iso(now()),
      last_acknowledged_at: last?.acknowledged_at ?? null,
      last_acknowledged_by: last?.user_name ?? null,
      acknowledgements: handoverAcks,
    };
  }

  function handle(cmd: string, args: Record<string, unknown> = {}): unknown {
    switch (cmd) {
      case "app_info":
        return { productName: "接诉即办工作台", version: "0.1.0", connection: { state: "disconnected" } };
      case "session":
      case "resume_session":
        return signedIn ? { serverUrl: settings.serverUrl, me: me() } : null;
      case "login": {
        const url = String(args.serverUrl ?? "");
        if (!/^https?:\/\//.test(url)) throw { code: "invalid_url", message: "bad url" };
        if (url.includes("unreachable")) throw { code: "unreachable", message: "connect refused" };
        const user = PEOPLE.find((p) => p.username === args.username);
        if (args.password === "locked") throw { code: "account_locked", message: "retry after 840 seconds" };
        if (!user || args.password !== "jsjb-demo-2026") throw { code: "invalid_credentials", message: "401" };
        signedIn = user;
        settings.serverUrl = url;
        return { serverUrl: url, me: me() };
      }
      case "logout":
        signedIn = null;
        return null;
      case "sync_status":
        return syncStatus();
      case "sync_now": {
        const before = [...letters.values()].reduce((n, l) => n + l.pending.length, 0);
        if (!offline) flushOutbox();
        const after = [...letters.values()].reduce((n, l) => n + l.pending.length, 0);
        return {
          error_code: offline ? "server_unreachable" : null,
          letters_changed: 0,
          actions_sent: before - after,
          pending_actions: after,
          finished_at: iso(now()),
        };
      }
      case "inbox":
        return inbox(args.query as InboxQuery);
      case "letter_detail": {
        const l = letters.get(Number(args.id));
        if (!l) throw { code: "not_found", message: "no letter" };
        return { detail: detail(l), availableActions: l.pending.length ? [] : available(l), serverNow: iso(now()) };
      }
      case "mark_seen": {
        const l = letters.get(Number(args.id));
        if (l && !l.seen) {
          l.seen = true;
          sorted = null;
        }
        return null;
      }
      case "take_action": {
        const l = letters.get(Number(args.letterId));
        if (!l || !signedIn) throw { code: "not_found", message: "no letter" };
        const action = args.action as Action;
        if (!available(l).includes(action.action)) throw { code: "wrong_state", message: "not now" };
        const entry: OutboxEntry = {
          id: outboxId++,
          idempotency_key: `k${outboxId}`,
          letter_id: l.record.id,
          expected_version: Number(args.expectedVersion),
          action,
          actor: { user: signedIn.id, unit: signedIn.unit_id, roles: signedIn.roles as Role[] },
          workstation: "WS-01",
          created_at: iso(now()),
          attempts: 0,
          last_error: null,
          status: "pending",
          signature: null,
        };
        if (offline) {
          l.pending.push(entry);
          sorted = null;
        } else apply(l, entry);
        emit("letters-changed", { ids: [l.record.id] });
        emit("sync-status", syncStatus());
        return entry;
      }
      case "failed_actions":
        return [...letters.values()].flatMap((l) => l.failed);
      case "dismiss_failed":
        for (const l of letters.values()) l.failed = l.failed.filter((f) => f.id !== Number(args.id));
        return null;
      case "pick_letter_files":
        // The development backend "picks" one photo each time.
        return [{ token: `file-${Math.random().toString(36).slice(2)}`, name: "现场照片.jpg", size: 182_344 }];
      case "clear_letter_files":
        return null;
      case "type_in_letter": {
        if (offline) throw { code: "offline", message: "offline" };
        const input = args.input as LetterInput;
        const key = String(args.idempotencyKey);
        const again = typedIn.get(key);
        if (again) return again;
        const id = Math.max(...letters.keys()) + 1;
        const l = addLetter(id, 0, "received", {
          subject: input.subject,
          body: input.body,
          category: input.category,
          channel: "phone",
          problem_tags: input.problem_tags,
          writer: { name: input.writer_name, phone: input.writer_phone, masked: false },
        });
        l.record.unit_id = signedIn?.unit_id ?? 2;
        sorted = null;
        const receipt = { id, tracking_code: l.record.tracking_code, received_at: l.record.received_at, unit_id: l.record.unit_id };
        typedIn.set(key, receipt);
        emit("letters-changed", { ids: [id] });
        return receipt;
      }
      case "reveal_writer":
        if (offline) throw { code: "offline", message: "offline" };
        return { name: "张三丰", phone: "13812345678", masked: false };
      case "attachment":
        return {
          mime: "image/svg+xml",
          base64: btoa('<svg xmlns="http://www.w3.org/2000/svg" width="120" height="90"><rect width="120" height="90" fill="#cfd8e3"/><circle cx="40" cy="40" r="18" fill="#7a8699"/></svg>'),
        };
      case "directory":
        return PEOPLE.map(({ username: _u, ...p }) => p);
      case "delegations":
        // The preview has no server: no grants (granting is not mocked).
        return [];
      case "settings":
        return settings;
      case "save_settings": {
        const next = args.settings as Settings;
        // As Rust: the address changes only signed out.
        if (signedIn && next.serverUrl !== settings.serverUrl) throw { code: "sign_out_first", message: "signed in" };
        Object.assign(settings, next);
        return settings;
      }
      case "test_chime":
        return { played: options.soundAvailable ?? true };
      case "waiting_status":
        return waitingStatus();
      case "change_own_password":
        if (offline) throw { code: "offline", message: "offline" };
        if (args.currentPassword !== "jsjb-demo-2026") throw { code: "wrong_password", message: "409" };
        mustChangePassword = false;
        return null;
      case "admin_keys":
        return [];
      case "routing_rules":
        // The preview's city routes nothing on its own (saving is not mocked).
        return { version: 0, rules: { rules: [] }, saved_at: null, saved_by: null, reason: "" };
      case "admin_users":
        return PEOPLE.map((p) => ({ ...p, active: true, must_change_password: false, last_login_at: null }));
      case "account_notices":
        if (offline) throw { code: "offline", message: "offline" };
        return notices;
      case "acknowledge_notices":
        if (offline) throw { code: "offline", message: "offline" };
        notices = notices.filter((n) => n.id > Number(args.upTo));
        return null;
      case "clock_rules":
        // The demo server's rules as a desktop that has synced reports them.
        return {
          version: "3f2a9c1b7d40e815",
          inForceSince: null,
          nextChangeAt: null,
          calendarYears: [2025, 2026, 2027],
          provisionalYears: [2027],
        };
      case "statistics":
        return statistics(String(args.from), String(args.to));
      case "stats_view":
        return statsView(String(args.from), String(args.to));
      case "handover":
        return handover();
      case "wall_board":
        if (!signedIn) throw { code: "not_signed_in", message: "not signed in" };
        return wallBoard(args.rates === true);
      case "set_full_screen":
        return false;
      case "acknowledge_handover": {
        if (!signedIn) throw { code: "not_signed_in", message: "not signed in" };
        // As the command does: the ticks kept are those of listed letters.
        const listed = [...new Set(handover().items.map((i) => i.letter_id))];
        const ticked = Array.isArray(args.checkedIds) ? (args.checkedIds as unknown[]) : [];
        const outgoing = typeof args.handedOverBy === "number" ? args.handedOverBy : null;
        handoverAcks.unshift({
          user_id: signedIn.id,
          user_name: signedIn.display_name,
          handed_over_by: outgoing,
          handed_over_by_name: PEOPLE.find((p) => p.id === outgoing)?.display_name ?? null,
          listed: listed.length,
          checked: listed.filter((id) => ticked.includes(id)).length,
          shift: "白班",
          acknowledged_at: iso(now()),
          note: String(args.note ?? "").trim(),
          status: offline ? "pending" : "recorded",
          last_error: null,
        });
        return null;
      }
      case "save_export":
      case "save_report_export":
      case "export_logs":
        // Nothing is written in development: the path only says where the app would.
        return { path: `~/${String(args.fileName)}` };
      default:
        throw notFound(cmd);
    }
  }

  return {
    handle,
    letters,
    addLetter,
    now,
    onEvent: (f: (event: string, payload: unknown) => void) => listeners.push(f),
    setOffline(value: boolean) {
      offline = value;
      if (!value) flushOutbox();
      emit("sync-status", syncStatus());
    },
    /** A new letter dispatched to the signed-in user's unit, as the sync engine reports it. */
    arrive(subject: string, body = "") {
      const id = Math.max(...letters.keys()) + 1;
      const l = addLetter(id, 30_000, "dispatched", { subject, body: body || subject });
      l.record.unit_id = signedIn?.unit_id ?? 5;
      l.seen = false;
      sorted = null;
      emit("letters-arrived", { ids: [id] });
      emit("waiting-changed", waitingStatus());
      return id;
    },
  };
}

export type MockBackend = ReturnType<typeof createMockBackend>;
