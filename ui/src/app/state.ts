// The signed-in session and what every screen shares: who the user is, the unit tree,
// colleagues' names, sync status and refused actions. One instance per app; events from
// Rust keep it current (push, don't poll).
import { reactive } from "vue";
import * as ipc from "../ipc";
import type { ActionRefusedEvent, LetterId, Me, NotificationOpened, OutboxEntry, SessionInfo, SyncStatus, UserSummary } from "../ipc";
import { learnServerNow } from "../domain/serverTime";

export type View = "inbox" | "desk" | "board" | "chief" | "supervisor" | "admin" | "stats" | "handover" | "settings";

type State = {
  phase: "starting" | "signed_out" | "signed_in";
  session: SessionInfo | null;
  sync: SyncStatus | null;
  people: UserSummary[];
  failed: OutboxEntry[];
  view: View;
  /** Letter to open when switching to the inbox (from handover, supervision…). */
  openLetter: LetterId | null;
  /** Bumped on `letters-changed` / `letters-arrived` so lists re-query. */
  lettersVersion: number;
  arrived: LetterId[];
  /** Letters waiting for the user (sign for / dispatch), most urgent first, as the Rust
   * alarm counts them: the window title's count. */
  waiting: LetterId[];
  /** Letters whose clock breached at a unit below the user's desk (逐级上报), newest
   * last: the wall board lists them until opened. */
  escalated: LetterId[];
  /** Arrivals the banner shows until the user opens one or acknowledges them. */
  alerting: LetterId[];
  /** An arrival came while the window was not focused (the OS notification showed). */
  arrivedWhileAway: boolean;
  /** False when the workstation has no sound device: the inbox says so, persistently. */
  soundAvailable: boolean;
  refusals: ActionRefusedEvent[];
  expired: boolean;
  /** The wall board fills the screen (a duty-room display): the header, the navigation
   * and the status bar step aside. */
  boardFullScreen: boolean;
  /** Signed out from 设置 to change the server: the sign-in form opens with the address
   * editable (and its warning shown). */
  changingServer: boolean;
};

const state = reactive<State>({
  phase: "starting",
  session: null,
  sync: null,
  people: [],
  failed: [],
  view: "inbox",
  openLetter: null,
  lettersVersion: 0,
  arrived: [],
  waiting: [],
  escalated: [],
  alerting: [],
  arrivedWhileAway: false,
  changingServer: false,
  soundAvailable: true,
  refusals: [],
  expired: false,
  boardFullScreen: false,
});

export const appState = state;

export function me(): Me | null {
  return state.session?.me ?? null;
}

export function hasRole(role: ipc.Role): boolean {
  return state.session?.me.roles.includes(role) ?? false;
}

export function setView(view: View, letter: LetterId | null = null): void {
  state.view = view;
  state.openLetter = letter;
}

/** The screen a clicked OS notification opens, with its letter: arrivals where the user
 * signs for or dispatches them, chases in the inbox, forms in 待签批, breaches below on
 * the wall board. */
export function noticeTarget(opened: NotificationOpened, roles: readonly string[]): { view: View; letter: LetterId | null } {
  switch (opened.kind) {
    case "arrival":
      return { view: roles.includes("dispatcher") ? "desk" : "inbox", letter: opened.letterId };
    case "chase":
      return { view: "inbox", letter: opened.letterId };
    case "forms_to_sign":
      return { view: "chief", letter: opened.letterId };
    case "escalation":
      return { view: "board", letter: null };
  }
}

export function clearOpenLetter(): void {
  state.openLetter = null;
}

/** Bumped on every `sync-status` (and `waiting-changed`) event: a snapshot asked for
 * before the latest event is older than it and must not overwrite it. */
let syncEvents = 0;
let waitingEvents = 0;

async function loadShared(): Promise<void> {
  const eventsBefore = syncEvents;
  const waitingBefore = waitingEvents;
  const [failed, sync, waiting] = await Promise.allSettled([ipc.failedActions(), ipc.syncStatus(), ipc.waitingStatus()]);
  if (failed.status === "fulfilled") state.failed = failed.value;
  // A fast first sync (a few letters) can finish, and say so in an event, before this
  // answer arrives: the event is newer, and the app would show 同步中 for ever.
  if (sync.status === "fulfilled" && syncEvents === eventsBefore) state.sync = sync.value;
  // Likewise an arrival announced while the snapshot was on its way back.
  if (waiting.status === "fulfilled" && waitingEvents === waitingBefore) applyWaiting(waiting.value);
  await loadDirectory();
}

let directoryTries = 0;

/** Colleagues' names. The directory is asked of the server: right after sign-in (or
 * offline) it may fail; it is asked again when sync reports back, a few times. */
async function loadDirectory(): Promise<void> {
  try {
    const people = await ipc.directory();
    const me = state.session?.me;
    // The user names themself too (handler of their own letters, statistics).
    if (me && !people.some((p) => p.id === me.user_id)) {
      people.push({ id: me.user_id, display_name: me.display_name, unit_id: me.unit_id, roles: me.roles });
    }
    state.people = people;
    directoryTries = 0;
  } catch {
    directoryTries += 1;
  }
}

export async function signedIn(session: SessionInfo): Promise<void> {
  state.session = session;
  state.phase = "signed_in";
  state.expired = false;
  const roles = session.me.roles;
  // A desk starts on its queue, a chief on the forms to sign, a supervisor on the cases
  // followed; an officer (whatever else they are) on the letters.
  state.view = roles.includes("officer")
    ? "inbox"
    : roles.includes("dispatcher")
      ? "desk"
      : roles.includes("chief")
        ? "chief"
        : roles.includes("supervisor")
          ? "supervisor"
          : roles.includes("admin")
            ? "admin"
            : "inbox";
  await loadShared();
}

/** The user set their own password: it no longer has to be changed. */
export function passwordChanged(): void {
  if (state.session) state.session.me.must_change_password = false;
}

export async function signOut(): Promise<void> {
  try {
    await ipc.logout();
  } finally {
    state.session = null;
    state.phase = "signed_out";
    state.people = [];
    state.failed = [];
    state.sync = null;
    state.waiting = [];
    state.escalated = [];
    state.alerting = [];
    state.arrivedWhileAway = false;
  }
}

export async function refreshFailed(): Promise<void> {
  try {
    state.failed = await ipc.failedActions();
  } catch {
    // keep the last list
  }
}

export async function dismissFailed(id: number): Promise<void> {
  await ipc.dismissFailed(id);
  state.failed = state.failed.filter((e) => e.id !== id);
  state.refusals = state.refusals.filter((r) => r.entryId !== id);
}

let started = false;

/** Subscribes to the app's events and finds the session (resumed or auto-signed-in). */
export async function start(): Promise<void> {
  if (started) return;
  started = true;
  // Listening and asking for the session go in parallel: each is an IPC round trip,
  // and the first screen waits for the session.
  const listening = Promise.all([
    ipc.onAppEvent("sync-status", (status) => {
      syncEvents += 1;
      state.sync = status;
      if (state.phase === "signed_in" && state.people.length <= 1 && directoryTries < 20 && status.state.kind === "online") {
        void loadDirectory();
      }
      // The app may sign in by itself (JSJB_AUTOLOGIN_*) after the UI started.
      if (state.phase === "signed_out") void checkSession();
    }),
    ipc.onAppEvent("letters-changed", () => {
      state.lettersVersion += 1;
    }),
    ipc.onAppEvent("letters-arrived", ({ ids }) => {
      state.arrived = [...new Set([...state.arrived, ...ids])];
      state.alerting = [...state.alerting.filter((a) => !ids.includes(a)), ...ids];
      if (!windowFocused()) state.arrivedWhileAway = true;
      state.lettersVersion += 1;
    }),
    ipc.onAppEvent("letters-escalated", ({ ids }) => {
      state.escalated = [...state.escalated.filter((e) => !ids.includes(e)), ...ids];
      state.lettersVersion += 1;
    }),
    ipc.onAppEvent("waiting-changed", (status) => {
      waitingEvents += 1;
      applyWaiting(status);
    }),
    ipc.onAppEvent("action-refused", (refusal) => {
      state.refusals = [...state.refusals, refusal];
      state.lettersVersion += 1;
      void refreshFailed();
    }),
    ipc.onAppEvent("notification-opened", (opened) => {
      if (state.phase !== "signed_in" || !state.session) return;
      const target = noticeTarget(opened, state.session.me.roles);
      setView(target.view, target.letter);
    }),
    ipc.onAppEvent("session-expired", () => {
      state.expired = true;
    }),
    // Also in the next `sync-status`; this shows the banner without waiting for it.
    ipc.onAppEvent("audit-mismatch", ({ alarm }) => {
      if (state.sync) state.sync = { ...state.sync, audit_alarm: alarm };
    }),
  ]);
  let session: SessionInfo | null = null;
  try {
    session = (await ipc.session()) ?? (await ipc.resumeSession());
  } catch {
    session = null;
  }
  if (session) await Promise.all([signedIn(session), listening]);
  else {
    state.phase = "signed_out";
    await listening;
  }
}

async function checkSession(): Promise<void> {
  try {
    const session = await ipc.session();
    if (session && state.phase === "signed_out") await signedIn(session);
  } catch {
    // still signed out
  }
}

export function noteServerNow(serverNow: string): void {
  learnServerNow(serverNow);
}

/** A letter was opened: its arrival highlight ends here and in the lists. */
export function acknowledgeArrivals(id: LetterId): void {
  state.arrived = state.arrived.filter((a) => a !== id);
  state.escalated = state.escalated.filter((a) => a !== id);
  state.alerting = state.alerting.filter((a) => a !== id);
  state.lettersVersion += 1;
}

function applyWaiting(status: ipc.WaitingStatus): void {
  state.waiting = status.ids;
  state.soundAvailable = status.soundAvailable;
  // A letter someone else signed for or dispatched no longer calls for this user.
  state.alerting = state.alerting.filter((a) => status.ids.includes(a));
}

function windowFocused(): boolean {
  return typeof document === "undefined" || document.hasFocus();
}

/** The arrivals the banner shows: those still waiting, in arrival order (newest last). */
export function alertingLetters(): LetterId[] {
  return state.alerting;
}

/** Opens the newest arrival the banner shows (its button; the window regaining focus
 * after an OS notification, whose click desktop Linux and Windows do not report). */
export function openNewestArrival(): void {
  const newest = state.alerting[state.alerting.length - 1];
  state.arrivedWhileAway = false;
  if (newest === undefined) return;
  setView("inbox", newest);
}

/** "知道了": the banner goes; the letters still wait (title, tray, alarm). */
export function acknowledgeBanner(): void {
  state.alerting = [];
  state.arrivedWhileAway = false;
}

/** The window gained focus: after an unattended arrival, open the newest letter. */
export function windowFocusedAgain(): void {
  if (state.arrivedWhileAway && state.phase === "signed_in") openNewestArrival();
}

/** "(2) 接诉即办工作台": the count of letters waiting to be signed for or dispatched
 * before the product's name, as the taskbar shows it; the bare name when none wait. */
export function windowTitle(count: number, product: string): string {
  return count > 0 ? `(${count}) ${product}` : product;
}

/** For tests: back to the state of a fresh app. */
export function resetAppState(): void {
  started = false;
  Object.assign(state, {
    phase: "starting",
    session: null,
    sync: null,
    people: [],
    failed: [],
    view: "inbox",
    openLetter: null,
    lettersVersion: 0,
    arrived: [],
    waiting: [],
    escalated: [],
    alerting: [],
    arrivedWhileAway: false,
    soundAvailable: true,
    refusals: [],
    expired: false,
    boardFullScreen: false,
    changingServer: false,
  } satisfies State);
}
