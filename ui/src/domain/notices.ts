// What the writer was told (告知) in the letter's history: each notice as one line
// (the step, how it went, by which route) and the words the writer got.
import type { Composer } from "vue-i18n";
import type { WriterNotice } from "../ipc";

type Translate = Composer["t"];

export type NoticeLine = {
  /** "告知来信人：已受理（短信）" */
  text: string;
  /** Where it is: sent, still trying (with the tries and the last error), or failed. */
  status: string;
  /** A failed notice: the desk must tell the writer another way. */
  failed: boolean;
};

export function describeNotice(t: Translate, n: WriterNotice): NoticeLine {
  const text = t("writerNotices.line", { step: t(`writerNotices.steps.${n.step}`), route: t(`writerNotices.routes.${n.route}`) });
  const error = n.last_error ?? "";
  const status =
    n.state === "sent"
      ? t("writerNotices.sent")
      : n.state === "failed"
        ? t("writerNotices.failed", { error })
        : n.attempts === 0
          ? t("writerNotices.pending")
          : t("writerNotices.retrying", { attempts: n.attempts, error });
  return { text, status, failed: n.state === "failed" };
}
