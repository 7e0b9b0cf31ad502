// Local mirrors of the Rust types the commands of docs/ipc.md carry, written while the
// generated bindings (`./bindings`, ts-rs) do not yet export them. Each mirrors the
// Rust struct named beside it field for field (serde names: snake_case for the crates'
// types, camelCase for the app's own command wrappers). When a binding appears, the
// type is re-exported from `./bindings` instead (see `./index.ts`).

// crates/core: letter.rs, org.rs
export type LetterId = number;
export type UnitId = number;
export type UserId = number;
export type Channel = "web" | "weibo" | "wechat" | "phone";
export type Category = "suggestion" | "help" | "complaint" | "inquiry" | "thanks";
export type LetterState = "received" | "dispatched" | "handling" | "awaiting_approval" | "closed";
export type ContactMethod = "phone" | "sms" | "visit";
export type ContactOutcome = "reached" | "unreachable";
export type ReturnReason = "not_our_jurisdiction" | "unclear_ownership" | "shared_duty" | "other";
export type Satisfaction = "satisfied" | "basically_satisfied" | "dissatisfied";
export type FormDecision = "approve" | "send_back";
export type Tier = "city" | "branch" | "station";
export type Role = "dispatcher" | "officer" | "chief" | "supervisor" | "admin";
export type Unit = { id: UnitId; parent: UnitId | null; tier: Tier; name: string };

// crates/core: clock.rs
export type ClockKind = "sign_for" | "contact" | "first_feedback" | "closure";
export type ClockState = "running" | "met" | "met_late" | "breached";
export type Band = "ok" | "warning" | "overdue" | "done";
export type ClockReading = {
  kind: ClockKind;
  started_at: string;
  due_at: string;
  original_due_at: string | null;
  state: ClockState;
  band: Band;
  remaining_secs: number;
  met_at: string | null;
};
export type LetterClocks = {
  sign_for: ClockReading | null;
  contact: ClockReading;
  first_feedback: ClockReading;
  closure: ClockReading;
  most_urgent: ClockKind | null;
};
export type Holding = { unit: UnitId; tier: Tier; from: string; until: string | null };

// crates/core: workflow.rs
export type ActionKind =
  | "dispatch"
  | "sign_for"
  | "record_contact"
  | "give_first_feedback"
  | "return_letter"
  | "rule_return"
  | "request_extension"
  | "decide_extension"
  | "assign_supervisor"
  | "chase"
  | "submit_feedback_form"
  | "approve_feedback_form"
  | "record_return_visit"
  | "link_thanks";

export type Action =
  | { action: "dispatch"; to: UnitId; note: string }
  | { action: "sign_for" }
  | {
      action: "record_contact";
      method: ContactMethod;
      outcome: ContactOutcome;
      contacted_at: string;
      note: string;
    }
  | { action: "give_first_feedback"; text: string }
  | { action: "return_letter"; reason: ReturnReason; note: string }
  | { action: "rule_return"; ruling: string }
  | { action: "request_extension"; reason: string; legal_basis: string; requested_due: string }
  | { action: "decide_extension"; approve: boolean; note: string }
  | { action: "assign_supervisor"; supervisor: UserId; note: string }
  | { action: "chase"; note: string }
  | { action: "submit_feedback_form"; summary: string; result: string; reply: string }
  | { action: "approve_feedback_form"; decision: FormDecision; opinion: string }
  | { action: "record_return_visit"; satisfaction: Satisfaction; note: string }
  | { action: "link_thanks"; case: LetterId; note: string };

export type EventPayload =
  | { kind: "received"; unit: UnitId; tier: Tier }
  | { kind: "dispatched"; from: UnitId; to: UnitId; to_tier: Tier; note: string; ruling: string | null }
  | { kind: "signed_for"; unit: UnitId; handler: UserId }
  | {
      kind: "contact_recorded";
      method: ContactMethod;
      outcome: ContactOutcome;
      contacted_at: string;
      note: string;
    }
  | { kind: "first_feedback_given"; text: string }
  | { kind: "returned"; from: UnitId; to: UnitId; to_tier: Tier; reason: ReturnReason; note: string }
  | {
      kind: "extension_requested";
      reason: string;
      legal_basis: string;
      requested_due: string;
      current_due: string;
    }
  | { kind: "extension_decided"; approve: boolean; new_due: string | null; note: string }
  | { kind: "supervisor_assigned"; supervisor: UserId; note: string }
  | { kind: "chased"; note: string }
  | { kind: "feedback_form_submitted"; summary: string; result: string; reply: string }
  | { kind: "feedback_form_decided"; decision: FormDecision; opinion: string }
  | { kind: "return_visit_recorded"; satisfaction: Satisfaction; note: string }
  | { kind: "thanks_linked"; case: LetterId; note: string };

export type Actor = { user: UserId; unit: UnitId; roles: Role[] };
export type PendingExtension = { requested_at: string; requested_due: string };
export type ClockInputs = {
  received_at: string;
  category: Category;
  first_contact_reached_at: string | null;
  first_feedback_at: string | null;
  closed_at: string | null;
  holdings: Holding[];
};
export type LetterStatus = {
  state: LetterState;
  category: Category;
  unit: UnitId;
  dispatch_chain: UnitId[];
  handler: UserId | null;
  supervisor: UserId | null;
  pending_extension: PendingExtension | null;
  returned_from: UnitId | null;
  return_visit_done: boolean;
  linked_case: LetterId | null;
  version: number;
  clock_inputs: ClockInputs;
};

// crates/proto
export type Writer = { name: string; phone: string; masked: boolean };
export type AttachmentKind = "image" | "voice";
export type AttachmentMeta = { sha256: string; kind: AttachmentKind; mime: string; size: number };
export type EventRecord = {
  seq: number;
  at: string;
  actor_user: UserId | null;
  actor_unit: UnitId | null;
  workstation: string | null;
  payload: EventPayload;
};
export type LetterRecord = {
  id: LetterId;
  tracking_code: string;
  channel: Channel;
  category: Category;
  problem_tags: string[];
  subject: string;
  body: string;
  writer: Writer;
  received_at: string;
  state: LetterState;
  unit_id: UnitId;
  handler_id: UserId | null;
  version: number;
  events: EventRecord[];
  attachments: AttachmentMeta[];
};
export type Me = {
  user_id: UserId;
  username: string;
  display_name: string;
  unit_id: UnitId;
  roles: Role[];
  units: Unit[];
};
export type UserSummary = { id: UserId; display_name: string; unit_id: UnitId; roles: Role[] };

// crates/store
export type InboxQuery = {
  states: LetterState[];
  bands: Band[];
  categories: Category[];
  channels: Channel[];
  handler: UserId | null;
  unit: UnitId | null;
  text: string | null;
  offset: number;
  limit: number;
};
export type InboxRow = {
  id: LetterId;
  tracking_code: string;
  channel: Channel;
  category: Category;
  subject: string;
  writer_name: string;
  received_at: string;
  state: LetterState;
  unit_id: UnitId;
  handler_id: UserId | null;
  version: number;
  pending: boolean;
  seen: boolean;
  band: Band;
  urgent_clock: ClockKind | null;
  due_at: string | null;
  remaining_secs: number | null;
};
export type StateCount = { state: LetterState; count: number };
export type InboxPage = { rows: InboxRow[]; total: number; state_counts: StateCount[] };
export type OutboxStatus = "pending" | "failed";
export type OutboxError = { code: string; message: string };
export type OutboxEntry = {
  id: number;
  idempotency_key: string;
  letter_id: LetterId;
  expected_version: number;
  action: Action;
  actor: Actor;
  workstation: string | null;
  created_at: string;
  attempts: number;
  last_error: OutboxError | null;
  status: OutboxStatus;
};
export type PendingAction = {
  entry: OutboxEntry;
  event: EventPayload | null;
  conflict: string | null;
};
export type LetterDetail = {
  record: LetterRecord;
  status: LetterStatus;
  clocks: LetterClocks;
  pending: PendingAction[];
  failed: OutboxEntry[];
  seen: boolean;
};

// crates/sync
export type SyncConnectionState =
  | { kind: "online" }
  | { kind: "syncing" }
  | { kind: "offline"; since: string };
export type SyncStatus = {
  state: SyncConnectionState;
  live: boolean;
  last_synced_at: string | null;
  pending_actions: number;
  failed_actions: number;
  clock_offset_ms: number;
  last_error_code: string | null;
};

// src-tauri (the app's command wrappers; camelCase on the wire)
export type SessionInfo = { serverUrl: string; me: Me };
export type InboxView = { page: InboxPage; serverNow: string };
export type LetterView = { detail: LetterDetail; availableActions: ActionKind[]; serverNow: string };
export type AttachmentData = { mime: string; base64: string };
export type ChimeSettings = { muted: boolean; volume: number; repeat: boolean };
export type Settings = { serverUrl: string; locale: string; chime: ChimeSettings; autostart: boolean };
export type ChimeTest = { played: boolean };

// Events
export type LettersEvent = { ids: LetterId[] };
export type ActionRefusedEvent = { entryId: number; letterId: LetterId; code: string; message: string };

// Proposed in docs/ipc.md by the UI (statistics, handover): see the rows there.
export type StatsQuery = { from: string; to: string };
export type RateCounts = {
  /** 响应率: signed for within the sign-for clock / dispatched. */
  dispatched: number;
  signed_on_time: number;
  /** 解决率: closed within the (extended) closure deadline / due in the period. */
  due: number;
  closed_on_time: number;
  /** 满意率: (satisfied + basically satisfied) / return visits. */
  visits: number;
  satisfied: number;
};
export type UnitStats = RateCounts & { unit_id: UnitId };
export type OfficerStats = RateCounts & { user_id: UserId; unit_id: UnitId | null };
export type CountBy = { key: string; count: number };
export type TierStats = { tier: Tier; overdue: number; held_secs: number };
export type StatsReport = {
  from: string;
  to: string;
  letters: number;
  units: UnitStats[];
  officers: OfficerStats[];
  by_category: CountBy[];
  by_problem: CountBy[];
  tiers: TierStats[];
  /** True when the UI computed it from inbox pages (no `statistics` command). */
  computed_in_ui?: boolean;
};
export type HandoverItemKind = "not_contacted" | "about_to_breach" | "promised_callback";
export type HandoverItem = {
  kind: HandoverItemKind;
  letter_id: LetterId;
  tracking_code: string;
  subject: string;
  clock: ClockKind | null;
  due_at: string | null;
  note: string;
};
export type HandoverReport = {
  items: HandoverItem[];
  serverNow: string;
  last_acknowledged_at: string | null;
  last_acknowledged_by: string | null;
};
