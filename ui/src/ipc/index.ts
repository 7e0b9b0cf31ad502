// Thin typed wrappers around `invoke`: one function per Rust command (docs/ipc.md).
// The types come from `./bindings`, generated from Rust (`cargo xtask bindings`), never
// edited by hand; those the bindings do not carry yet are mirrored in `./types`.
import { invoke, type InvokeArgs } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type { AppInfo, CommandError, DeskIntakeReceipt, LetterInput, Notice, PickedFile } from "./bindings";
import type {
  Action,
  ActionRefusedEvent,
  AttachmentData,
  AuditMismatchEvent,
  ChimeTest,
  HandoverReport,
  InboxQuery,
  InboxView,
  LetterId,
  LettersEvent,
  LetterView,
  OutboxEntry,
  SessionInfo,
  Settings,
  StatsQuery,
  StatsReport,
  StatsView,
  RulesInUse,
  ReportFormat,
  NotificationOpened,
  SyncReport,
  SyncStatus,
  WallBoard,
  UserId,
  UserSummary,
  WaitingStatus,
  Writer,
} from "./types";

export type { AppInfo, CommandError, ConnectionState, ErrorCode } from "./bindings";
export type * from "./types";

export function isCommandError(value: unknown): value is CommandError {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as Record<string, unknown>).code === "string" &&
    typeof (value as Record<string, unknown>).message === "string"
  );
}

/** Every failure reaches the UI as `{ code, message }`, even Tauri's own refusals. */
function toCommandError(error: unknown): CommandError {
  if (isCommandError(error)) return error;
  return { code: "internal", message: String(error) };
}

async function call<T>(command: string, args?: InvokeArgs): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (error) {
    throw toCommandError(error);
  }
}

/** The product's name and version, and the state of the link to the central server. */
export function appInfo(): Promise<AppInfo> {
  return call<AppInfo>("app_info");
}

// Session
export const login = (serverUrl: string, username: string, password: string) =>
  call<SessionInfo>("login", { serverUrl, username, password });
export const resumeSession = () => call<SessionInfo | null>("resume_session");
export const logout = () => call<void>("logout");
export const session = () => call<SessionInfo | null>("session");

// Sync
export const syncStatus = () => call<SyncStatus>("sync_status");
export const syncNow = () => call<SyncReport>("sync_now");

// Letters
export const inbox = (query: InboxQuery) => call<InboxView>("inbox", { query });
export const letterDetail = (id: LetterId) => call<LetterView>("letter_detail", { id });
export const markSeen = (id: LetterId) => call<void>("mark_seen", { id });
export const takeAction = (letterId: LetterId, expectedVersion: number, action: Action) =>
  call<OutboxEntry>("take_action", { letterId, expectedVersion, action });
export const failedActions = () => call<OutboxEntry[]>("failed_actions");
export const dismissFailed = (id: number) => call<void>("dismiss_failed", { id });
export const revealWriter = (letterId: LetterId) => call<Writer>("reveal_writer", { letterId });
/** 录入来电: the form keeps `idempotencyKey` across retries, so a retry never makes a second letter. */
export const typeInLetter = (idempotencyKey: string, input: LetterInput, files: string[] = []) =>
  call<DeskIntakeReceipt>("type_in_letter", { idempotencyKey, input, files });
/** The phone letter's attachments: Rust opens the native file picker (titled
 * `dialogTitle`) and holds the files; the UI gets tokens, names and sizes, never paths. */
export const pickLetterFiles = (dialogTitle: string, keep: string[]) =>
  call<PickedFile[]>("pick_letter_files", { dialogTitle, keep });
export const clearLetterFiles = () => call<void>("clear_letter_files");
export const attachment = (sha256: string) => call<AttachmentData>("attachment", { sha256 });
export const directory = () => call<UserSummary[]>("directory");

// Statistics and handover
export const statistics = (query: StatsQuery) => call<StatsReport>("statistics", query);
/** The statistics screen's figures: the server's report, or (offline) the cache's estimate. */
/** Which clock rules this desktop counts with (the server's version, or the built-in). */
export const clockRules = () => call<RulesInUse>("clock_rules");
export const statsView = (query: StatsQuery) => call<StatsView>("stats_view", query);
export const handover = () => call<HandoverReport>("handover");
/** 各单位实时态势 of the user's desk, from the cache at server time; today's 三率 too
 * when `rates` (a fold of every history: ask now and then, not on every change). */
export const wallBoard = (rates: boolean) => call<WallBoard>("wall_board", { rates });
/** The window in or out of full screen (the wall board on a duty-room screen). */
export const setFullScreen = (on: boolean) => call<boolean>("set_full_screen", { on });
/** 确认接班: `handedOverBy` names the outgoing officer (交班人, a colleague), `checkedIds`
 * the listed letters ticked. */
export const acknowledgeHandover = (note: string, handedOverBy: UserId | null = null, checkedIds: LetterId[] = []) =>
  call<void>("acknowledge_handover", { note, handedOverBy, checkedIds });

// What happened to the user's own account (keys, password), shown after sign-in.
export const accountNotices = () => call<Notice[]>("account_notices");
export const acknowledgeNotices = (upTo: number) => call<void>("acknowledge_notices", { upTo });

// Exports: the WebView itself cannot save downloads. Rust asks the user for the folder
// (native dialog titled `dialogTitle`); `null` when they cancel.
export const saveExport = (fileName: string, content: string, dialogTitle: string) =>
  call<{ path: string } | null>("save_export", { fileName, content, dialogTitle });
/** The server's report of `[from, to)` as CSV or XLSX, saved in the folder the user picks. */
export const saveReportExport = (query: StatsQuery & { format: ReportFormat; fileName: string; dialogTitle: string }) =>
  call<{ path: string } | null>("save_report_export", query);
// 导出日志: every log file of this workstation as one text file `fileName`, in the folder
// the user picks (Rust reads the files; the UI never sees a path it could choose).
export const exportLogs = (fileName: string, dialogTitle: string) =>
  call<{ path: string } | null>("export_logs", { fileName, dialogTitle });

// Settings
export const settings = () => call<Settings>("settings");
export const saveSettings = (value: Settings) => call<Settings>("save_settings", { settings: value });
export const testChime = () => call<ChimeTest>("test_chime");
// What waits for the user (the title's count, the arrival banner, the no-sound notice).
export const waitingStatus = () => call<WaitingStatus>("waiting_status");

// Events (Rust → UI; the UI re-queries)
export type AppEvents = {
  "sync-status": SyncStatus;
  "letters-changed": LettersEvent;
  "letters-arrived": LettersEvent;
  "letters-escalated": LettersEvent;
  "action-refused": ActionRefusedEvent;
  "session-expired": Record<string, never>;
  "audit-mismatch": AuditMismatchEvent;
  "waiting-changed": WaitingStatus;
  "notification-opened": NotificationOpened;
};

/** Listens to one of the app's events; resolves to the function that stops listening. */
export async function onAppEvent<K extends keyof AppEvents>(
  name: K,
  handler: (payload: AppEvents[K]) => void,
): Promise<UnlistenFn> {
  try {
    return await listen<AppEvents[K]>(name, (event) => handler(event.payload));
  } catch {
    // Outside Tauri (unit tests without event mocks) there is nothing to listen to.
    return () => {};
  }
}
