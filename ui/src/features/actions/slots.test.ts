import { describe, expect, it } from "vitest";
import type { ActionKind } from "../../ipc";
import { actionSlots, nextExpected } from "./slots";

const kinds = (slots: { kind: ActionKind }[]) => slots.map((s) => s.kind);

describe("the action buttons", () => {
  it("put the next expected action first", () => {
    expect(nextExpected("received", false, false)).toBe("dispatch");
    expect(nextExpected("dispatched", false, false)).toBe("sign_for");
    expect(nextExpected("handling", false, false)).toBe("record_contact");
    expect(nextExpected("handling", true, false)).toBe("give_first_feedback");
    expect(nextExpected("handling", true, true)).toBe("submit_feedback_form");
    expect(nextExpected("awaiting_approval", true, true)).toBeNull();
    expect(nextExpected("closed", true, true)).toBe("record_return_visit");
    const { slots } = actionSlots("sign_for", ["return_letter", "sign_for"], []);
    expect(kinds(slots)).toEqual(["sign_for", "return_letter"]);
    expect(slots[0]).toEqual({ kind: "sign_for", enabled: true, primary: true });
  });

  it("disable an action that stops being possible in its slot instead of removing it", () => {
    const open = actionSlots("record_contact", ["record_contact", "request_extension", "return_letter"], []);
    expect(kinds(open.slots)).toEqual(["record_contact", "request_extension", "return_letter"]);
    // The closure deadline passes: 申请延期 is no longer possible, 指定盯办 becomes so.
    const after = actionSlots("record_contact", ["record_contact", "return_letter", "assign_supervisor"], open.shown);
    expect(kinds(after.slots)).toEqual(["record_contact", "request_extension", "return_letter", "assign_supervisor"]);
    expect(after.slots.map((s) => s.enabled)).toEqual([true, false, true, true]);
  });

  it("add a newly possible action after the others, so none moves", () => {
    const first = actionSlots(null, ["chase", "request_extension"], []);
    expect(kinds(first.slots)).toEqual(["request_extension", "chase"]);
    const second = actionSlots(null, ["chase", "request_extension", "decide_extension"], first.shown);
    expect(kinds(second.slots)).toEqual(["request_extension", "chase", "decide_extension"]);
  });
});
