// Thin typed wrappers around `invoke`: one function per Rust command. The types come
// from `./bindings`, generated from Rust (`cargo xtask bindings`), never edited by hand.
import { invoke, type InvokeArgs } from "@tauri-apps/api/core";
import type { AppInfo, CommandError } from "./bindings";

export type { AppInfo, CommandError, ConnectionState, ErrorCode } from "./bindings";

export function isCommandError(value: unknown): value is CommandError {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as Record<string, unknown>).code === "string" &&
    typeof (value as Record<string, unknown>).message === "string"
  );
}

/** Every failure reaches the UI as `{ code, message }`, even Tauri's own refusals. */
function toCommandError(error: unknown): CommandError {
  return isCommandError(error) ? error : { code: "internal", message: String(error) };
}

async function call<T>(command: string, args?: InvokeArgs): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (error) {
    throw toCommandError(error);
  }
}

/** The product's name and version, and the state of the link to the central server. */
export function appInfo(): Promise<AppInfo> {
  return call<AppInfo>("app_info");
}
