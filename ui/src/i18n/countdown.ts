// The one countdown format of the app (chips, the letter's clocks, handover): words and
// units, never "09:59" or "3:04:05", which read as a time of day. Issue 13.3.
//
//   under an hour  剩 8分30秒   / 8 min 30 s left     (seconds: sign-for is 10 min, contact 30)
//   under a day    剩 3小时4分  / 3 h 4 min left
//   a day or more  剩 1天11小时 / 1 d 11 h left
//   past due       超期 5天9小时 / overdue 5 d 9 h   (the same ranges on the time past)
//
// Parts are truncated, never rounded up: "剩 59分59秒" is not yet an hour, and a clock
// shows "剩 0分0秒" at its due time exactly (it is overdue only strictly after).

/** The translate function of vue-i18n (`useI18n().t` or `i18n.global.t`). */
export type Translate = (key: string, named: Record<string, unknown>) => string;

/** The span without its direction: "8分30秒", "3小时4分", "1天11小时". */
export function formatSpan(t: Translate, secs: number): string {
  const abs = Math.abs(Math.trunc(secs));
  const d = Math.floor(abs / 86400);
  const h = Math.floor((abs % 86400) / 3600);
  const m = Math.floor((abs % 3600) / 60);
  const s = abs % 60;
  if (d > 0) return t("countdown.dh", { d, h });
  if (h > 0) return t("countdown.hm", { h, m });
  return t("countdown.ms", { m, s });
}

/** "剩 8分30秒" for time left, "超期 5天9小时" for time past the due time (`secs` < 0). */
export function formatCountdown(t: Translate, secs: number): string {
  const span = formatSpan(t, secs);
  return secs < 0 ? t("countdown.overdue", { span }) : t("countdown.left", { span });
}
