// Times as officers read them: China Standard Time (UTC+8, no daylight saving), computed
// by hand so that the workstation's own time zone never matters.

const CST_OFFSET_MS = 8 * 3600 * 1000;

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** "2026-11-28 11:05" (CST) from an RFC 3339 instant; "" for null or garbage. */
export function formatCst(iso: string | null | undefined, withSeconds = false): string {
  if (!iso) return "";
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return "";
  const d = new Date(ms + CST_OFFSET_MS);
  const date = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  return `${date} ${time}${withSeconds ? `:${pad(d.getUTCSeconds())}` : ""}`;
}

/** "11-28 11:05" (CST): compact, for dense rows. */
export function formatCstShort(iso: string | null | undefined): string {
  const full = formatCst(iso);
  return full ? full.slice(5) : "";
}

/** The CST calendar date "2026-11-28" of an instant. */
export function cstDate(ms: number): string {
  return formatCst(new Date(ms).toISOString()).slice(0, 10);
}

/** The instant (UTC ms) of 00:00 CST on the CST date `yyyy-mm-dd`. */
export function cstMidnight(date: string): number {
  return Date.parse(`${date}T00:00:00+08:00`);
}

/** A CST wall-clock value "yyyy-mm-ddThh:mm" (for <input type=datetime-local>) → RFC 3339 UTC. */
export function cstLocalToIso(local: string): string | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(local)) return null;
  const ms = Date.parse(`${local.slice(0, 16)}:00+08:00`);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}

/** RFC 3339 → CST wall-clock "yyyy-mm-ddThh:mm" (for <input type=datetime-local>). */
export function isoToCstLocal(iso: string): string {
  return formatCst(iso).replace(" ", "T");
}

/** Seconds from `nowMs` to `dueIso` (negative when past), whole seconds toward -∞. */
export function secondsUntil(dueIso: string, nowMs: number): number {
  return Math.floor((Date.parse(dueIso) - nowMs) / 1000);
}
