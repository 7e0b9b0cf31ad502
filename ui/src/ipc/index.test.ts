import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { afterEach, describe, expect, it } from "vitest";
import { statistics } from ".";

afterEach(() => clearMocks());

describe("command errors", () => {
  it.each(["Command statistics not found", "statistics not allowed. Command not found"])(
    "a command the backend lacks (%s) is `not_implemented`, so screens can fall back",
    async (refusal) => {
      mockIPC(() => {
        throw refusal;
      });
      await expect(statistics({ from: "a", to: "b" })).rejects.toMatchObject({ code: "not_implemented" });
    },
  );

  it("anything else unexpected is `internal`", async () => {
    mockIPC(() => {
      throw "boom";
    });
    await expect(statistics({ from: "a", to: "b" })).rejects.toMatchObject({ code: "internal" });
  });
});
