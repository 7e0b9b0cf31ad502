// What a wrong PIN tells the chief: how many tries are left before the waits begin, or
// how long to wait now (Rust counts them on the workstation: crates/signoff keyfile.rs).
import type { Composer } from "vue-i18n";

type Translate = Composer["t"];

export type PinError = { code?: string; retryAfterSecs?: number; triesLeft?: number };

/** The sentence for a `wrong_pin` / `pin_locked` refusal; `null` for any other error. */
export function pinErrorText(t: Translate, e: PinError): string | null {
  if (e.code === "pin_locked") return t("signoff.pinLocked", { secs: e.retryAfterSecs ?? 0 });
  if (e.code !== "wrong_pin") return null;
  if (e.retryAfterSecs && e.retryAfterSecs > 0) return t("signoff.wrongPinWait", { secs: e.retryAfterSecs });
  if (e.triesLeft === undefined) return t("errors.wrong_pin");
  return e.triesLeft > 0 ? t("signoff.wrongPinTries", { n: e.triesLeft }) : t("signoff.wrongPinLast");
}
