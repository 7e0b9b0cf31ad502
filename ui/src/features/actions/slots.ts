// Where the letter's action buttons go (issue 13.5, docs/design.md): the next expected
// action first, in a fixed place; the others in slots that never move while the letter
// is open. An action that stops being possible (申请延期 once the closure deadline has
// passed) is disabled in its slot, not removed; one that becomes possible (指定盯办 at a
// breach) is added after the others. Nothing reflows under the officer's cursor.
import type { ActionKind, LetterState } from "../../ipc";

/** The order of the slots when a letter is opened. */
export const SLOT_ORDER: readonly ActionKind[] = [
  "dispatch",
  "sign_for",
  "record_contact",
  "give_first_feedback",
  "submit_feedback_form",
  "record_return_visit",
  "request_extension",
  "decide_extension",
  "return_letter",
  "rule_return",
  "assign_supervisor",
  "chase",
  "link_thanks",
  "reclassify",
];

/** What the letter waits for next, by its state and which clocks are met. */
export function nextExpected(state: LetterState, contactMet: boolean, firstFeedbackGiven: boolean): ActionKind | null {
  switch (state) {
    case "received":
      return "dispatch";
    case "dispatched":
      return "sign_for";
    case "handling":
      if (!contactMet) return "record_contact";
      if (!firstFeedbackGiven) return "give_first_feedback";
      return "submit_feedback_form";
    case "awaiting_approval":
      return null; // the chief's signed approval has its own panel
    case "closed":
      return "record_return_visit";
  }
}

export type Slot = { kind: ActionKind; enabled: boolean; primary: boolean };

/**
 * The buttons for `available` (offered now), given the secondary slots already shown
 * for this letter (`shown`, in their places). Returns the slots and the new `shown`.
 */
export function actionSlots(
  next: ActionKind | null,
  available: readonly ActionKind[],
  shown: readonly ActionKind[],
): { slots: Slot[]; shown: ActionKind[] } {
  const canon = (k: ActionKind) => SLOT_ORDER.indexOf(k);
  const added = available
    .filter((k) => k !== next && !shown.includes(k) && canon(k) >= 0)
    .sort((a, b) => canon(a) - canon(b));
  const secondary = [...shown, ...added];
  const slots: Slot[] = [];
  // The next expected action keeps the first place while it is possible.
  if (next !== null && available.includes(next)) slots.push({ kind: next, enabled: true, primary: true });
  for (const kind of secondary) {
    if (kind === next && available.includes(next)) continue;
    slots.push({ kind, enabled: available.includes(kind), primary: false });
  }
  return { slots, shown: secondary };
}
