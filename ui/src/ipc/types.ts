// Types the commands of docs/ipc.md carry. Those the Rust side defines come from the
// generated bindings (`./bindings`, ts-rs — never edited by hand); the ones below are
// proposed by the UI in docs/ipc.md (statistics, handover) and mirror that document until
// the Rust side defines them.
export type {
  Action,
  ActionKind,
  ActionRefusedEvent,
  Actor,
  AttachmentData,
  AttachmentKind,
  AttachmentMeta,
  Band,
  Category,
  Channel,
  ChimeSettings,
  ChimeTest,
  ClockInputs,
  ClockKind,
  ClockReading,
  ClockState,
  ContactMethod,
  ContactOutcome,
  EventPayload,
  EventRecord,
  FormDecision,
  Holding,
  InboxPage,
  InboxQuery,
  InboxRow,
  InboxView,
  LetterClocks,
  LetterDetail,
  LetterId,
  LetterRecord,
  LetterState,
  LetterStatus,
  LetterView,
  LettersEvent,
  Me,
  OutboxEntry,
  OutboxError,
  OutboxStatus,
  PendingAction,
  PendingExtension,
  ReturnReason,
  Role,
  Satisfaction,
  SessionInfo,
  Settings,
  StateCount,
  SyncConnectionState,
  SyncStatus,
  Tier,
  Unit,
  UnitId,
  UserId,
  UserSummary,
  Writer,
} from "./bindings";
import type { ClockKind, LetterId, Tier, UnitId, UserId } from "./bindings";

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
