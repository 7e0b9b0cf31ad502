// The shift handover computed from the cached letters of the user's unit: the fallback
// while the `handover` command (docs/ipc.md) is not there.
import * as ipc from "../../ipc";
import type { HandoverItem, HandoverReport, LetterDetail, LetterId } from "../../ipc";

/** "About to breach": a running clock with less than this left (or already breached). */
export const SOON_SECS = 2 * 3600;
const CAP = 300;

/** Pure: the handover lists from letters' details at `nowMs`. */
export function handoverItems(details: LetterDetail[], nowMs: number): HandoverItem[] {
  const items: HandoverItem[] = [];
  for (const d of details) {
    const r = d.record;
    const base = { letter_id: r.id as LetterId, tracking_code: r.tracking_code, subject: r.subject };
    if (d.status.state === "closed") continue;
    if (d.status.state === "handling" && d.clocks.contact.met_at === null) {
      items.push({ ...base, kind: "not_contacted", clock: "contact", due_at: d.clocks.contact.due_at, note: "" });
    }
    const clocks = [d.clocks.sign_for, d.clocks.contact, d.clocks.first_feedback, d.clocks.closure];
    const soonest = clocks
      .filter((c) => c !== null && (c.state === "running" || c.state === "breached"))
      .map((c) => ({ c: c!, left: (Date.parse(c!.due_at) - nowMs) / 1000 }))
      .sort((a, b) => a.left - b.left)[0];
    if (soonest && soonest.left <= SOON_SECS) {
      items.push({ ...base, kind: "about_to_breach", clock: soonest.c.kind, due_at: soonest.c.due_at, note: "" });
    }
    // A promised call-back: the last contact attempt did not reach the writer and no
    // later attempt did.
    const contacts = r.events.filter((e) => e.payload.kind === "contact_recorded");
    const last = contacts[contacts.length - 1];
    if (last && last.payload.kind === "contact_recorded" && last.payload.outcome === "unreachable") {
      items.push({ ...base, kind: "promised_callback", clock: null, due_at: null, note: last.payload.note });
    }
  }
  return items;
}

const ACK_KEY = "jsjb.handoverAck";

export async function computeHandover(unitId: number, nowMs: number): Promise<HandoverReport> {
  const view = await ipc.inbox({
    states: ["dispatched", "handling"],
    bands: [],
    categories: [],
    channels: [],
    handler: null,
    unit: unitId,
    text: null,
    offset: 0,
    limit: CAP,
  });
  const details: LetterDetail[] = [];
  const queue = view.page.rows.map((r) => r.id);
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        try {
          details.push((await ipc.letterDetail(id)).detail);
        } catch {
          // gone meanwhile
        }
      }
    }),
  );
  details.sort((a, b) => a.record.id - b.record.id);
  let last: { at: string; by: string } | null = null;
  try {
    last = JSON.parse(localStorage.getItem(ACK_KEY) ?? "null");
  } catch {
    last = null;
  }
  return {
    items: handoverItems(details, nowMs),
    serverNow: view.serverNow,
    last_acknowledged_at: last?.at ?? null,
    last_acknowledged_by: last?.by ?? null,
    acknowledgements: [],
  };
}

export function acknowledgeLocally(at: string, by: string): void {
  try {
    localStorage.setItem(ACK_KEY, JSON.stringify({ at, by }));
  } catch {
    // nothing more we can do locally
  }
}
