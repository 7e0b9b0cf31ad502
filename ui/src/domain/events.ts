// A letter's history in words: each event as one translated sentence.
import type { Composer } from "vue-i18n";
import type { EventPayload, Unit, UserSummary } from "../ipc";
import { formatCst } from "./time";

type Translate = Composer["t"];

export type Names = { units: Unit[]; people: UserSummary[] };

export function describeEvent(t: Translate, payload: EventPayload, names: Names): string {
  const unit = (id: number) => names.units.find((u) => u.id === id)?.name ?? t("events.unknownUnit", { id });
  const user = (id: number) =>
    names.people.find((p) => p.id === id)?.display_name ?? t("events.unknownUser", { id });
  switch (payload.kind) {
    case "received":
      return t("events.received", { unit: unit(payload.unit) });
    case "dispatched":
      if (!payload.ruling) return t("events.dispatched", { from: unit(payload.from), to: unit(payload.to) });
      return t(payload.return_upheld ? "events.dispatchedUpheld" : "events.dispatchedRuling", {
        from: unit(payload.from),
        to: unit(payload.to),
        ruling: payload.ruling,
      });
    case "signed_for":
      return t("events.signed_for", { handler: user(payload.handler), unit: unit(payload.unit) });
    case "contact_recorded":
      return t("events.contact_recorded", {
        method: t(`contactMethods.${payload.method}`),
        outcome: t(`contactOutcomes.${payload.outcome}`),
      });
    case "first_feedback_given":
      return t("events.first_feedback_given", { text: payload.text });
    case "returned":
      return t("events.returned", {
        from: unit(payload.from),
        to: unit(payload.to),
        reason: t(`returnReasons.${payload.reason}`),
      });
    case "extension_requested":
      return t("events.extension_requested", {
        due: formatCst(payload.requested_due),
        reason: payload.reason,
        basis: payload.legal_basis,
      });
    case "extension_decided":
      return payload.approve
        ? t("events.extension_approved", { due: formatCst(payload.new_due) })
        : t("events.extension_rejected", { note: payload.note });
    case "supervisor_assigned":
      return t("events.supervisor_assigned", { supervisor: user(payload.supervisor) });
    case "chased":
      return t("events.chased", { note: payload.note });
    case "feedback_form_submitted":
      return t("events.feedback_form_submitted");
    case "feedback_form_decided":
      return t("events.feedback_form_decided", { decision: t(`formDecisions.${payload.decision}`) });
    case "return_visit_recorded":
      if (payload.resolved === undefined || payload.resolved === null)
        return t("events.return_visit_recorded", { satisfaction: t(`satisfaction.${payload.satisfaction}`) });
      return t(payload.method ? "events.return_visit_recorded_method" : "events.return_visit_recorded_resolved", {
        method: payload.method ? t(`contactMethods.${payload.method}`) : "",
        resolved: t(payload.resolved ? "actionForm.resolvedYes" : "actionForm.resolvedNo"),
        satisfaction: t(`satisfaction.${payload.satisfaction}`),
      });
    case "return_visit_attempted":
      return t("events.return_visit_attempted", { method: t(`contactMethods.${payload.method}`) });
    case "thanks_linked":
      return t("events.thanks_linked", { case: payload.case });
    case "reclassified":
      return t("events.reclassified", {
        category: t(`categories.${payload.category}`),
        tags: payload.problem_tags.length ? payload.problem_tags.join("、") : t("events.noTags"),
      });
  }
}

/** Extra free text an event carries, shown under its sentence (as text). */
export function eventNote(payload: EventPayload): string {
  switch (payload.kind) {
    case "dispatched":
    case "returned":
    case "contact_recorded":
    case "supervisor_assigned":
    case "return_visit_recorded":
    case "return_visit_attempted":
    case "thanks_linked":
    case "reclassified":
      return payload.note;
    case "extension_decided":
      return payload.approve ? payload.note : "";
    case "feedback_form_submitted":
      return [payload.summary, payload.result, payload.reply].filter(Boolean).join("\n");
    case "feedback_form_decided":
      return payload.opinion;
    default:
      return "";
  }
}
