import { describe, expect, it } from "vitest";
import { emptyModel, offeredActions, toAction, validate } from "./forms";

const ctx = {
  nowMs: Date.parse("2026-11-28T04:00:00Z"),
  receivedAt: "2026-11-28T03:00:00Z",
  closureDue: "2026-12-13T03:00:00Z",
};

describe("action forms", () => {
  it("sign_for needs nothing", () => {
    expect(validate("sign_for", emptyModel(), ctx)).toEqual({});
    expect(toAction("sign_for", emptyModel())).toEqual({ action: "sign_for" });
  });

  it("dispatch needs a unit", () => {
    const m = emptyModel();
    expect(validate("dispatch", m, ctx)).toEqual({ to: "required" });
    m.to = 5;
    m.note = "  请核实  ";
    expect(validate("dispatch", m, ctx)).toEqual({});
    expect(toAction("dispatch", m)).toEqual({ action: "dispatch", to: 5, note: "请核实" });
  });

  it("record_contact: not in the future beyond the tolerance, not before receipt", () => {
    const m = emptyModel();
    expect(validate("record_contact", m, ctx)).toEqual({ contactedAt: "required" });
    m.contactedAt = "2026-11-28T12:30"; // 04:30Z, 30 min ahead
    expect(validate("record_contact", m, ctx)).toEqual({ contactedAt: "inTheFuture" });
    m.contactedAt = "2026-11-28T10:59"; // 02:59Z, before receipt
    expect(validate("record_contact", m, ctx)).toEqual({ contactedAt: "beforeReceipt" });
    m.contactedAt = "2026-11-28T11:45";
    m.outcome = "unreachable";
    expect(validate("record_contact", m, ctx)).toEqual({});
    expect(toAction("record_contact", m)).toEqual({
      action: "record_contact",
      method: "phone",
      outcome: "unreachable",
      contacted_at: "2026-11-28T03:45:00.000Z",
      note: "",
    });
  });

  it("record_contact: a call-back time (约定回拨) only when unreachable, not before the attempt nor past", () => {
    const m = emptyModel();
    m.contactedAt = "2026-11-28T11:45"; // 03:45Z; now is 04:00Z
    m.outcome = "unreachable";
    m.callbackAt = "2026-11-28T18:00";
    expect(validate("record_contact", m, ctx)).toEqual({});
    expect(toAction("record_contact", m)).toMatchObject({ callback_at: "2026-11-28T10:00:00.000Z" });
    m.callbackAt = "2026-11-28T11:40"; // before the attempt
    expect(validate("record_contact", m, ctx)).toEqual({ callbackAt: "beforeContact" });
    m.contactedAt = "2026-11-28T11:30";
    m.callbackAt = "2026-11-28T11:50"; // after the attempt, but 10 min ago
    expect(validate("record_contact", m, ctx)).toEqual({ callbackAt: "inThePast" });
    // None given: none sent; reached: never sent, never checked.
    m.callbackAt = "";
    expect(toAction("record_contact", m)).not.toHaveProperty("callback_at");
    m.callbackAt = "2026-11-28T11:40";
    m.outcome = "reached";
    expect(validate("record_contact", m, ctx)).toEqual({});
    expect(toAction("record_contact", m)).not.toHaveProperty("callback_at");
  });

  it("record_contact sends the exact proposed instant while its minute is kept", () => {
    const m = emptyModel();
    m.contactedAtExact = "2026-11-28T03:59:41.250Z";
    m.contactedAt = "2026-11-28T11:59";
    expect(toAction("record_contact", m)).toMatchObject({ contacted_at: "2026-11-28T03:59:41.250Z" });
    m.contactedAt = "2026-11-28T11:50";
    expect(toAction("record_contact", m)).toMatchObject({ contacted_at: "2026-11-28T03:50:00.000Z" });
  });

  it("return_letter needs a reason code and a note", () => {
    const m = emptyModel();
    expect(validate("return_letter", m, ctx)).toEqual({ note: "required" });
    m.reason = "shared_duty";
    m.note = "属交警职责";
    expect(toAction("return_letter", m)).toEqual({ action: "return_letter", reason: "shared_duty", note: "属交警职责" });
  });

  it("request_extension: reason, legal basis, and a deadline later than the current one", () => {
    const m = emptyModel();
    m.extReason = "需协调多部门";
    m.legalBasis = "《信访工作条例》";
    m.requestedDue = "2026-12-13T11:00"; // == current due
    expect(validate("request_extension", m, ctx)).toEqual({ requestedDue: "notLater" });
    m.requestedDue = "2026-12-20T11:00";
    expect(validate("request_extension", m, ctx)).toEqual({});
    expect(toAction("request_extension", m)).toMatchObject({ requested_due: "2026-12-20T03:00:00.000Z" });
  });

  it("rejecting an extension, a dissatisfied visit and a chase need a note", () => {
    const m = emptyModel();
    m.approve = false;
    expect(validate("decide_extension", m, ctx)).toEqual({ note: "required" });
    m.approve = true;
    expect(validate("decide_extension", m, ctx)).toEqual({});
    m.satisfaction = "dissatisfied";
    expect(validate("record_return_visit", m, ctx)).toEqual({ resolved: "required", note: "required" });
    m.resolved = false;
    m.note = "仍有油烟";
    expect(validate("record_return_visit", m, ctx)).toEqual({});
    expect(toAction("record_return_visit", m)).toMatchObject({ resolved: false, satisfaction: "dissatisfied" });
    expect(validate("chase", emptyModel(), ctx)).toEqual({ note: "required" });
  });

  it("an extension can be granted to a date other than the one asked for, later than the one in force", () => {
    const m = emptyModel();
    m.approve = true;
    m.grantOther = true;
    expect(validate("decide_extension", m, ctx)).toEqual({ grantedDue: "required" });
    m.grantedDue = "2026-12-13T11:00"; // == current due
    expect(validate("decide_extension", m, ctx)).toEqual({ grantedDue: "notLater" });
    m.grantedDue = "2026-12-18T11:00";
    expect(validate("decide_extension", m, ctx)).toEqual({});
    expect(toAction("decide_extension", m)).toEqual({
      action: "decide_extension",
      approve: true,
      granted_due: "2026-12-18T03:00:00.000Z",
      note: "",
    });
    // A refusal carries no date, whatever the form held.
    m.approve = false;
    m.note = "理由不充分";
    expect(toAction("decide_extension", m)).toEqual({ action: "decide_extension", approve: false, note: "理由不充分" });
  });

  it("a ruling sends back, re-dispatches (a target required) or passes up (with a reason)", () => {
    const m = emptyModel();
    m.ruling = "经核查";
    expect(toAction("rule_return", m)).toEqual({ action: "rule_return", ruling: "经核查", outcome: { kind: "send_back" } });
    m.rulingOutcome = "redispatch";
    expect(validate("rule_return", m, ctx)).toEqual({ to: "required" });
    m.to = 12;
    expect(validate("rule_return", m, ctx)).toEqual({});
    expect(toAction("rule_return", m)).toMatchObject({ outcome: { kind: "redispatch", to: 12 } });
    m.rulingOutcome = "pass_up";
    m.reason = "shared_duty";
    expect(toAction("rule_return", m)).toMatchObject({ outcome: { kind: "pass_up", reason: "shared_duty" } });
  });

  it("a return visit records the method; one that did not reach the writer asks nothing of them", () => {
    const m = emptyModel();
    m.method = "visit";
    m.outcome = "unreachable";
    expect(validate("record_return_visit", m, ctx)).toEqual({});
    expect(toAction("record_return_visit", m)).toEqual({
      action: "record_return_visit",
      method: "visit",
      outcome: "unreachable",
      note: "",
    });
    m.outcome = "reached";
    expect(validate("record_return_visit", m, ctx)).toEqual({ resolved: "required" });
    m.resolved = true;
    expect(toAction("record_return_visit", m)).toMatchObject({ method: "visit", outcome: "reached", resolved: true, satisfaction: "satisfied" });
  });

  it("the feedback form needs summary, result and reply; texts are capped", () => {
    const m = emptyModel();
    expect(validate("submit_feedback_form", m, ctx)).toEqual({ summary: "required", result: "required", reply: "required" });
    m.summary = "x".repeat(5001);
    m.result = "ok";
    m.reply = "ok";
    expect(validate("submit_feedback_form", m, ctx)).toEqual({ summary: "tooLong" });
  });

  it("reclassify needs a category and at most five problem classes, and sends the whole list", () => {
    const m = emptyModel();
    expect(validate("reclassify", m, ctx)).toEqual({ category: "required" });
    m.category = "complaint";
    m.problemTags = ["噪音扰民", "违章停车", "治安隐患", "邻里纠纷", "电信网络诈骗", "办事效率"];
    expect(validate("reclassify", m, ctx)).toEqual({ problemTags: "tooMany" });
    m.problemTags = ["噪音扰民"];
    m.note = "  来信实为投诉 ";
    expect(validate("reclassify", m, ctx)).toEqual({});
    expect(toAction("reclassify", m)).toEqual({ action: "reclassify", category: "complaint", problem_tags: ["噪音扰民"], note: "来信实为投诉" });
  });

  it("assign_supervisor needs a person, link_thanks a case", () => {
    expect(validate("assign_supervisor", emptyModel(), ctx)).toEqual({ supervisor: "required" });
    expect(validate("link_thanks", emptyModel(), ctx)).toEqual({ caseId: "required" });
  });

  it("offers what core offers, except the signed approval", () => {
    expect(offeredActions(["sign_for", "approve_feedback_form", "return_letter"])).toEqual(["sign_for", "return_letter"]);
  });
});
