import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { afterEach, describe, expect, it } from "vitest";
import { statistics } from ".";

afterEach(() => clearMocks());

describe("command errors", () => {
  it.each(["Command statistics not found", "statistics not allowed. Command not found"])(
    "Tauri's own refusal (%s) is `internal`, with its message kept for the log",
    async (refusal) => {
      mockIPC(() => {
        throw refusal;
      });
      await expect(statistics({ from: "a", to: "b" })).rejects.toEqual({ code: "internal", message: refusal });
    },
  );

  it("anything else unexpected is `internal`", async () => {
    mockIPC(() => {
      throw "boom";
    });
    await expect(statistics({ from: "a", to: "b" })).rejects.toMatchObject({ code: "internal" });
  });
});
