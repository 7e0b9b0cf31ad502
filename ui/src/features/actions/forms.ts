// Each action's form: its model, its validation (mirroring core's rules so the officer
// hears about a mistake before the action is queued) and the `Action` it becomes.
import type { Action, ActionKind, Category, ContactMethod, ContactOutcome, FormDecision, ReturnReason, Satisfaction } from "../../ipc";
import { cstLocalToIso, isoToCstLocal } from "../../domain/time";

import { CONTACT_TIME_TOLERANCE_MS, MAX_PROBLEM_TAGS, MAX_TEXT_CHARS } from "../../ipc/bindings/limits";

export { MAX_TEXT_CHARS };

export type FormModel = {
  to: number | null;
  note: string;
  method: ContactMethod;
  outcome: ContactOutcome;
  /** CST wall clock "yyyy-mm-ddThh:mm" */
  contactedAt: string;
  /** The exact instant the form proposed as "now"; sent as is while the officer keeps
   * the proposed minute (a letter received this very minute would otherwise be
   * contacted "before receipt" once the seconds are cut off). */
  contactedAtExact: string | null;
  /** 约定回拨: CST wall clock "yyyy-mm-ddThh:mm", or "" for none (only when unreachable). */
  callbackAt: string;
  text: string;
  reason: ReturnReason;
  ruling: string;
  /** 退单裁定: refused (back to the returning unit), upheld to another unit (改派, `to`),
   * or upheld and passed up to the desk above (上报, `reason`). */
  rulingOutcome: "send_back" | "redispatch" | "pass_up";
  extReason: string;
  legalBasis: string;
  /** CST wall clock "yyyy-mm-ddThh:mm" */
  requestedDue: string;
  approve: boolean;
  /** 审批延期: grant a date other than the one asked for. */
  grantOther: boolean;
  /** CST wall clock "yyyy-mm-ddThh:mm" */
  grantedDue: string;
  supervisor: number | null;
  summary: string;
  result: string;
  reply: string;
  decision: FormDecision;
  satisfaction: Satisfaction;
  /** 是否解决: asked of the writer on the return visit; no default, the desk must say. */
  resolved: boolean | null;
  caseId: number | null;
  /** 重新分类: the category and problem classes as they should be. */
  category: Category | null;
  problemTags: string[];
};

export function emptyModel(): FormModel {
  return {
    to: null,
    note: "",
    method: "phone",
    outcome: "reached",
    contactedAt: "",
    contactedAtExact: null,
    callbackAt: "",
    text: "",
    reason: "not_our_jurisdiction",
    ruling: "",
    rulingOutcome: "send_back",
    extReason: "",
    legalBasis: "",
    requestedDue: "",
    approve: true,
    grantOther: false,
    grantedDue: "",
    supervisor: null,
    summary: "",
    result: "",
    reply: "",
    decision: "approve",
    satisfaction: "satisfied",
    resolved: null,
    caseId: null,
    category: null,
    problemTags: [],
  };
}

export type FieldProblem =
  | "required"
  | "tooLong"
  | "inTheFuture"
  | "beforeReceipt"
  | "notLater"
  | "tooMany"
  | "beforeContact"
  | "inThePast";
export type Problems = Partial<Record<keyof FormModel, FieldProblem>>;

export type FormContext = {
  /** Server time now (ms). */
  nowMs: number;
  receivedAt: string;
  /** The closure deadline in force (for request_extension and decide_extension). */
  closureDue: string | null;
};

function text(problems: Problems, field: keyof FormModel, value: string, required: boolean) {
  const v = value.trim();
  if (required && v.length === 0) problems[field] = "required";
  else if ([...v].length > MAX_TEXT_CHARS) problems[field] = "tooLong";
}

/** Checks the model for `kind`; an empty result means it may be submitted. */
export function validate(kind: ActionKind, m: FormModel, ctx: FormContext): Problems {
  const p: Problems = {};
  switch (kind) {
    case "dispatch":
      if (m.to === null) p.to = "required";
      text(p, "note", m.note, false);
      break;
    case "sign_for":
      break;
    case "record_contact": {
      const iso = cstLocalToIso(m.contactedAt);
      if (!iso) p.contactedAt = "required";
      else if (Date.parse(iso) > ctx.nowMs + CONTACT_TIME_TOLERANCE_MS) p.contactedAt = "inTheFuture";
      // The form has minutes only: compare at minute precision.
      else if (Date.parse(iso) < Math.floor(Date.parse(ctx.receivedAt) / 60000) * 60000)
        p.contactedAt = "beforeReceipt";
      if (m.outcome === "unreachable" && m.callbackAt !== "") {
        const callback = cstLocalToIso(m.callbackAt);
        // Core holds it to the attempt; a time already past when typed is a slip too
        // (the server does not check that: a queued contact may arrive late).
        if (!callback) p.callbackAt = "required";
        else if (iso && Date.parse(callback) < Math.floor(Date.parse(iso) / 60000) * 60000)
          p.callbackAt = "beforeContact";
        else if (Date.parse(callback) < ctx.nowMs - CONTACT_TIME_TOLERANCE_MS) p.callbackAt = "inThePast";
      }
      text(p, "note", m.note, false);
      break;
    }
    case "give_first_feedback":
      text(p, "text", m.text, true);
      break;
    case "return_letter":
      text(p, "note", m.note, true);
      break;
    case "rule_return":
      text(p, "ruling", m.ruling, true);
      if (m.rulingOutcome === "redispatch" && m.to === null) p.to = "required";
      break;
    case "request_extension": {
      text(p, "extReason", m.extReason, true);
      text(p, "legalBasis", m.legalBasis, true);
      const iso = cstLocalToIso(m.requestedDue);
      if (!iso) p.requestedDue = "required";
      else if (ctx.closureDue && Date.parse(iso) <= Date.parse(ctx.closureDue)) p.requestedDue = "notLater";
      break;
    }
    case "decide_extension":
      text(p, "note", m.note, !m.approve);
      if (m.approve && m.grantOther) {
        const iso = cstLocalToIso(m.grantedDue);
        if (!iso) p.grantedDue = "required";
        else if (ctx.closureDue && Date.parse(iso) <= Date.parse(ctx.closureDue)) p.grantedDue = "notLater";
      }
      break;
    case "assign_supervisor":
      if (m.supervisor === null) p.supervisor = "required";
      text(p, "note", m.note, false);
      break;
    case "chase":
      text(p, "note", m.note, true);
      break;
    case "submit_feedback_form":
      text(p, "summary", m.summary, true);
      text(p, "result", m.result, true);
      text(p, "reply", m.reply, true);
      break;
    case "approve_feedback_form":
      text(p, "note", m.note, m.decision === "send_back");
      break;
    case "record_return_visit":
      if (m.outcome === "reached") {
        if (m.resolved === null) p.resolved = "required";
        text(p, "note", m.note, m.satisfaction === "dissatisfied");
      } else {
        text(p, "note", m.note, false);
      }
      break;
    case "link_thanks":
      if (m.caseId === null || !Number.isInteger(m.caseId) || m.caseId <= 0) p.caseId = "required";
      text(p, "note", m.note, false);
      break;
    case "reclassify":
      if (m.category === null) p.category = "required";
      if (m.problemTags.length > MAX_PROBLEM_TAGS) p.problemTags = "tooMany";
      text(p, "note", m.note, false);
      break;
  }
  return p;
}

/** The `Action` a valid model stands for. */
export function toAction(kind: ActionKind, m: FormModel): Action {
  const note = m.note.trim();
  switch (kind) {
    case "dispatch":
      return { action: "dispatch", to: m.to ?? 0, note };
    case "sign_for":
      return { action: "sign_for" };
    case "record_contact":
      return {
        action: "record_contact",
        method: m.method,
        outcome: m.outcome,
        contacted_at:
          m.contactedAtExact && isoToCstLocal(m.contactedAtExact) === m.contactedAt
            ? m.contactedAtExact
            : (cstLocalToIso(m.contactedAt) ?? new Date().toISOString()),
        note,
        // A call-back is promised only to a writer not reached.
        ...(m.outcome === "unreachable" && cstLocalToIso(m.callbackAt)
          ? { callback_at: cstLocalToIso(m.callbackAt) ?? undefined }
          : {}),
      };
    case "give_first_feedback":
      return { action: "give_first_feedback", text: m.text.trim() };
    case "return_letter":
      return { action: "return_letter", reason: m.reason, note };
    case "rule_return":
      return {
        action: "rule_return",
        ruling: m.ruling.trim(),
        outcome:
          m.rulingOutcome === "redispatch"
            ? { kind: "redispatch", to: m.to ?? 0 }
            : m.rulingOutcome === "pass_up"
              ? { kind: "pass_up", reason: m.reason }
              : { kind: "send_back" },
      };
    case "request_extension":
      return {
        action: "request_extension",
        reason: m.extReason.trim(),
        legal_basis: m.legalBasis.trim(),
        requested_due: cstLocalToIso(m.requestedDue) ?? "",
      };
    case "decide_extension":
      return m.approve && m.grantOther
        ? { action: "decide_extension", approve: true, granted_due: cstLocalToIso(m.grantedDue) ?? "", note }
        : { action: "decide_extension", approve: m.approve, note };
    case "assign_supervisor":
      return { action: "assign_supervisor", supervisor: m.supervisor ?? 0, note };
    case "chase":
      return { action: "chase", note };
    case "submit_feedback_form":
      return { action: "submit_feedback_form", summary: m.summary.trim(), result: m.result.trim(), reply: m.reply.trim() };
    case "approve_feedback_form":
      return { action: "approve_feedback_form", decision: m.decision, opinion: note };
    case "record_return_visit":
      return m.outcome === "reached"
        ? {
            action: "record_return_visit",
            method: m.method,
            outcome: "reached",
            resolved: m.resolved ?? false,
            satisfaction: m.satisfaction,
            note,
          }
        : { action: "record_return_visit", method: m.method, outcome: "unreachable", note };
    case "link_thanks":
      return { action: "link_thanks", case: m.caseId ?? 0, note };
    case "reclassify":
      return { action: "reclassify", category: m.category ?? "help", problem_tags: m.problemTags, note };
  }
}

/** Which actions the UI offers as buttons: core's list minus the chief's signed approval,
 * which needs the electronic-signature flow of the sign-off module. */
export function offeredActions(available: ActionKind[]): ActionKind[] {
  return available.filter((k) => k !== "approve_feedback_form");
}
