// Error codes → translation keys. An officer never sees a raw message.
import type { Composer } from "vue-i18n";
import zhCN from "../i18n/zh-CN";

type Translate = Composer["t"];

const KNOWN = new Set(Object.keys(zhCN.errors));

/** Parses "retry after N seconds" (any wording) out of an `account_locked` message. */
export function lockMinutes(message: string | undefined): number | null {
  const match = /(\d+)/.exec(message ?? "");
  if (!match) return null;
  const secs = Number(match[1]);
  return Number.isFinite(secs) && secs > 0 ? Math.max(1, Math.ceil(secs / 60)) : null;
}

/** The translated text for an error `{ code, message }` (or anything thrown). */
export function errorText(t: Translate, error: unknown): string {
  const code =
    typeof error === "object" && error !== null && typeof (error as { code?: unknown }).code === "string"
      ? (error as { code: string }).code
      : "internal";
  const message =
    typeof error === "object" && error !== null ? (error as { message?: string }).message : undefined;
  if (code === "account_locked") {
    const retry = (error as { retryAfterSecs?: unknown }).retryAfterSecs;
    const minutes =
      typeof retry === "number" && retry > 0 ? Math.max(1, Math.ceil(retry / 60)) : lockMinutes(message);
    return minutes ? t("errors.account_locked", { minutes }) : t("errors.account_locked_plain");
  }
  return refusalText(t, code);
}

/** The translated reason of a refusal code (`wrong_state`, …), known or not. */
export function refusalText(t: Translate, code: string): string {
  if (KNOWN.has(code) && code !== "unknown") return t(`errors.${code}` as "errors.internal");
  return t("errors.unknown", { code });
}
