// Installs the mock backend in a browser page (development, screenshots).
// Query parameters: ?letters=100000&user=futian.liu|none&offline=1&lang=en
import { emit } from "@tauri-apps/api/event";
import { mockIPC } from "@tauri-apps/api/mocks";
import { setView, type View } from "../app/state";
import { createMockBackend } from "./mockBackend";

export function installMockBackend(): void {
  // As tauri.conf.json's freezePrototype does in the app: libraries that break under a
  // frozen Object.prototype break here too.
  Object.freeze(Object.prototype);
  const params = new URLSearchParams(location.search);
  const user = params.get("user");
  const backend = createMockBackend({
    letters: Number(params.get("letters") ?? 160),
    user: user === "none" ? null : (user ?? "futian.liu"),
    offline: params.get("offline") === "1",
  });
  mockIPC((cmd, args) => backend.handle(cmd, args as Record<string, unknown>), { shouldMockEvents: true });
  backend.onEvent((event, payload) => void emit(event, payload));
  const lang = params.get("lang");
  if (lang) localStorage.setItem("jsjb.locale", lang);
  const view = params.get("view");
  const open = params.get("open");
  if (view || open) {
    // After the app signed in (which picks the role's first screen).
    setTimeout(() => setView((view ?? "inbox") as View, open ? Number(open) : null), 300);
  }
  (window as unknown as { jsjbMock: typeof backend }).jsjbMock = backend;
  performance.mark("jsjb:backend-ready");
}
