// The handover screen's arithmetic, apart from the component so that Vitest reads it:
// the lists in their order, the ticks (one per letter, whichever list it is ticked on),
// who may be named as the outgoing officer, and one acknowledgement as the history shows it.
import type { HandoverAckView, HandoverItem, HandoverItemKind, LetterId, UserId, UserSummary } from "../../ipc";
import { HANDOVER_KINDS } from "../../ipc/bindings/limits";

/** Each list's heading. The `Record` makes the compiler refuse a kind without one; the
 * order is the store's (`HandoverItemKind::ALL`, generated into `limits.ts`): what must
 * be done soonest first, 已超期 apart from 即将超期. */
const TITLE_KEYS: Record<HandoverItemKind, string> = {
  not_signed_for: "handover.notSignedFor",
  not_contacted: "handover.notContacted",
  chased: "handover.chased",
  overdue: "handover.overdue",
  about_to_breach: "handover.aboutToBreach",
  promised_callback: "handover.promisedCallback",
};
export { HANDOVER_KINDS };

export type HandoverSection = { kind: HandoverItemKind; titleKey: string; items: HandoverItem[] };

/** Every list, empty ones too (an empty list is news: nothing of that kind is left). */
export function handoverSections(items: HandoverItem[]): HandoverSection[] {
  return HANDOVER_KINDS.map((kind) => ({ kind, titleKey: TITLE_KEYS[kind], items: items.filter((i) => i.kind === kind) }));
}

/** The letters listed, once each, in the order they first appear. */
export function listedLetters(items: HandoverItem[]): LetterId[] {
  return [...new Set(items.map((i) => i.letter_id))];
}

/** How many of the listed letters are ticked (ticks of letters no longer listed do not count). */
export function tickCount(items: HandoverItem[], ticked: ReadonlySet<LetterId>): { ticked: number; listed: number } {
  const listed = listedLetters(items);
  return { ticked: listed.filter((id) => ticked.has(id)).length, listed: listed.length };
}

/** Who may be named 交班人: the colleagues of my unit, not me, by name. */
export function outgoingCandidates(people: UserSummary[], me: { user_id: UserId; unit_id: number }): UserSummary[] {
  return people
    .filter((p) => p.unit_id === me.unit_id && p.id !== me.user_id)
    .sort((a, b) => a.display_name.localeCompare(b.display_name, "zh-CN"));
}

/** 交班人 → 接班人 of an acknowledgement; the outgoing one by the name recorded, else
 * the directory's, else "—" (none named). */
export function handoverPair(ack: HandoverAckView, people: UserSummary[]): { from: string; to: string } {
  const named = ack.handed_over_by === null ? null : (ack.handed_over_by_name ?? people.find((p) => p.id === ack.handed_over_by)?.display_name ?? `#${ack.handed_over_by}`);
  return { from: named ?? "—", to: ack.user_name };
}
